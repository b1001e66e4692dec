// Deadlines for every socket libgit2 opens: connect, each read and write, and the whole fetch.
//
// libgit2 1.5 (Debian 12) has no GIT_OPT_SET_SERVER_CONNECT_TIMEOUT / GIT_OPT_SET_SERVER_TIMEOUT
// (they arrived in 1.7), and its progress callbacks run only while data flows: a remote that
// accepts the TCP connection and never answers blocked a fetch for good. So Sluice registers its
// own plain socket stream as libgit2's GIT_STREAM_STANDARD (install_deadline_stream()). Every
// transport opens its socket through that registry: http://, git://, the TLS streams of https://
// (which wrap it, so the TLS handshake reads are bounded too) and ssh:// (whose libssh2 session
// uses the descriptor directly, so only its connect is bounded by the stream; the watchdog below
// bounds the rest).
//
// A FetchDeadlines scope (RAII, one per fetch, on the fetching thread) gives the streams created
// on that thread their limits: connect within `connect_timeout`, each read/write waits at most
// `io_timeout` and never past `deadline`. A watchdog thread additionally shuts down every socket
// of the fetch that is still open at `deadline`, which unblocks any reader (libssh2 included).
// Streams created outside a scope (a libgit2 call that is not a fetch) get the default limits.
//
// Threads: install_deadline_stream() is idempotent and thread-safe; a FetchDeadlines belongs to
// the thread that created it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "base/clock.h"

namespace sluice::gitops {

struct StreamLimits {
  Duration connect_timeout{10'000};
  Duration io_timeout{30'000};  // one read or write that makes no progress
};

// Registers the stream with libgit2 (after git_libgit2_init). Called by ensure_libgit2().
void install_deadline_stream();

class FetchDeadlines {
 public:
  FetchDeadlines(StreamLimits limits, Duration total);
  ~FetchDeadlines();
  FetchDeadlines(const FetchDeadlines&) = delete;
  FetchDeadlines& operator=(const FetchDeadlines&) = delete;

  // True once a stream or the watchdog ended the fetch because a limit passed.
  bool timed_out() const;
  // Which limit ("connect to 127.0.0.1:4711 timed out after 200ms", ...); "" when none.
  std::string reason() const;

  // ---- used by the stream, on the fetching thread (track/untrack from any thread) ----
  static FetchDeadlines* current();
  const StreamLimits& limits() const { return limits_; }
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  Duration total() const { return total_; }
  void note_timeout(const std::string& why);
  void track(int fd);
  void untrack(int fd);

 private:
  void watch();

  const StreamLimits limits_;
  const Duration total_;
  const std::chrono::steady_clock::time_point deadline_;
  FetchDeadlines* previous_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool timed_out_ = false;
  std::string reason_;
  std::set<int> fds_;
  std::thread watchdog_;
};

}  // namespace sluice::gitops
