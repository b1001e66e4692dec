#include "manifests/parse_guard.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include <yaml-cpp/yaml.h>

#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_GUARD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLUICE_GUARD_SANITIZED 1
#endif
#endif

namespace sluice::manifests {

namespace {

constexpr int kOutOfMemoryExit = 3;
// Generous for any legitimate manifest (a 4 MiB file takes well under 200 MB in yaml-cpp); the
// runaway parses allocate about 500 MB/s. Not applied under ASan, whose shadow memory needs
// terabytes of address space; the timeout still bounds those children.
constexpr rlim_t kChildAddressSpace = rlim_t{2} << 30;

[[noreturn]] void child_main(const std::vector<std::string_view>& texts, size_t from, int out) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
#ifndef SLUICE_GUARD_SANITIZED
  const rlimit as{kChildAddressSpace, kChildAddressSpace};
  ::setrlimit(RLIMIT_AS, &as);
#endif
  for (size_t i = from; i < texts.size(); ++i) {
    try {
      (void)YAML::LoadAll(std::string(texts[i]));
    } catch (const std::bad_alloc&) {
      ::_exit(kOutOfMemoryExit);
    } catch (...) {
      // A syntax error is a finished parse: the in-process parse reports it with its position.
    }
    const auto index = static_cast<uint32_t>(i);
    ssize_t n;
    do {
      n = ::write(out, &index, sizeof index);
    } while (n < 0 && errno == EINTR);
    if (n != sizeof index) ::_exit(1);
  }
  ::_exit(0);
}

}  // namespace

const char* to_string(GuardVerdict v) {
  switch (v) {
    case GuardVerdict::kParsed: return "parsed";
    case GuardVerdict::kTimedOut: return "timed out";
    case GuardVerdict::kOutOfMemory: return "out of memory";
    case GuardVerdict::kCrashed: return "crashed";
    case GuardVerdict::kNoChild: return "no child process";
  }
  return "unknown";
}

YamlParseGuard::YamlParseGuard(std::vector<std::string_view> texts,
                               std::chrono::milliseconds timeout)
    : texts_(std::move(texts)), timeout_(timeout) {}

YamlParseGuard::~YamlParseGuard() { stop_child(); }

void YamlParseGuard::start_child(size_t from) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  if (pid == 0) {
    ::close(fds[0]);
    child_main(texts_, from, fds[1]);
  }
  ::close(fds[1]);
  child_ = pid;
  read_fd_ = fds[0];
}

void YamlParseGuard::stop_child() {
  if (read_fd_ >= 0) ::close(read_fd_);
  read_fd_ = -1;
  if (child_ > 0) {
    ::kill(child_, SIGKILL);
    while (::waitpid(child_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  child_ = -1;
}

GuardVerdict YamlParseGuard::wait_for(size_t i) {
  using Clock = std::chrono::steady_clock;
  while (next_ <= i) {
    if (child_ < 0) {
      start_child(next_);
      if (child_ < 0) {
        next_ = i + 1;
        return GuardVerdict::kNoChild;
      }
    }
    GuardVerdict failed = GuardVerdict::kParsed;
    const auto deadline = Clock::now() + timeout_;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{read_fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        failed = GuardVerdict::kTimedOut;
        stop_child();
        break;
      }
      uint32_t got[256];
      const ssize_t n = ::read(read_fd_, got, sizeof got);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        // Each 4-byte write is atomic (< PIPE_BUF), so reads return whole records.
        next_ = static_cast<size_t>(got[static_cast<size_t>(n) / sizeof got[0] - 1]) + 1;
        break;
      }
      // EOF (or a read error): the child is gone. Find out why.
      int status = 0;
      while (::waitpid(child_, &status, 0) < 0 && errno == EINTR) {
      }
      child_ = -1;
      ::close(read_fd_);
      read_fd_ = -1;
      if (next_ >= texts_.size()) return GuardVerdict::kParsed;
      failed = WIFEXITED(status) && WEXITSTATUS(status) == kOutOfMemoryExit
                   ? GuardVerdict::kOutOfMemory
                   : GuardVerdict::kCrashed;
      break;
    }
    if (failed != GuardVerdict::kParsed) {
      // A fork of a multi-threaded process can, rarely, inherit a lock another thread held
      // (sanitizer allocators have no fork handlers), so a text gets a second child before it
      // is judged; a genuine hang costs two timeouts.
      if (retried_ != next_) {
        retried_ = next_;
        continue;
      }
      // The child was on texts_[next_] when it hung or died twice; a new child continues after it.
      if (next_ == i) {
        ++next_;
        return failed;
      }
      ++next_;
    }
  }
  return GuardVerdict::kParsed;
}

}  // namespace sluice::manifests
