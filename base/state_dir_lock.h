// One process per state directory: `sluice serve` takes an exclusive flock(2) on STATE_DIR/lock
// for its whole life, so a second `sluice serve` (or `sluice journal repair`) on the same state
// dir is refused with a message naming the holder's pid instead of corrupting the journal.
//
// The kernel drops the lock when the holder exits or is killed, so a stale lock file left by a
// crashed process never blocks a restart. The file's content (the holder's pid) is informational.
// flock locks belong to the open file description: a second acquire() in the same process is
// refused too.
//
// Threads: acquire() may be called from any thread; a StateDirLock is a move-only RAII handle.
#pragma once

#include <string>
#include <utility>

#include "base/status.h"

namespace sluice {

class StateDirLock {
 public:
  // Creates `dir` if it is missing, then locks `dir`/lock without blocking.
  // Errors: kFailedPrecondition when another holder has it ("state dir D is already in use by
  // process 1234 (lock file D/lock) ..."); I/O errors as from Filesystem.
  static Result<StateDirLock> acquire(const std::string& dir);

  StateDirLock(StateDirLock&& other) noexcept;
  StateDirLock& operator=(StateDirLock&& other) noexcept;
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;
  ~StateDirLock();  // releases the lock (the file stays)

  const std::string& path() const { return path_; }

 private:
  StateDirLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  void release();

  std::string path_;
  int fd_ = -1;
};

}  // namespace sluice
