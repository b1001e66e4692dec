#include "base/state_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/filesystem.h"

namespace sluice {

namespace {

// The pid the holder wrote, trimmed; empty when unreadable or not yet written.
std::string read_holder_pid(const std::string& path) {
  auto content = PosixFilesystem::instance().read_file(path);
  if (!content) return {};
  std::string pid;
  for (char c : *content) {
    if (c < '0' || c > '9') break;
    pid.push_back(c);
  }
  return pid;
}

}  // namespace

Result<StateDirLock> StateDirLock::acquire(const std::string& dir) {
  if (Status s = PosixFilesystem::instance().mkdirs(dir); !s) return s;
  std::string path = join_path(dir, "lock");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("open", path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err != EWOULDBLOCK) return errno_status("lock", path, err);
    const std::string pid = read_holder_pid(path);
    return failed_precondition("state dir " + dir + " is already in use by " +
                               (pid.empty() ? std::string("another process") : "process " + pid) +
                               " (lock file " + path +
                               "); stop that sluice first, or give this one a different "
                               "--state-dir");
  }
  // We hold the lock: record our pid for whoever is refused next.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    const int err = errno;
    ::close(fd);
    return errno_status("write", path, err);
  }
  return StateDirLock(std::move(path), fd);
}

StateDirLock::StateDirLock(StateDirLock&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

StateDirLock& StateDirLock::operator=(StateDirLock&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

StateDirLock::~StateDirLock() { release(); }

void StateDirLock::release() {
  if (fd_ < 0) return;
  // Closing the only descriptor of this open file description drops the flock.
  ::close(fd_);
  fd_ = -1;
}

}  // namespace sluice
