#include "base/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/filesystem.h"

extern char** environ;

namespace sluice {
namespace {

// RAII for the posix_spawn attribute and file-action objects.
struct SpawnAttrs {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnAttrs() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnAttrs() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnAttrs(const SpawnAttrs&) = delete;
  SpawnAttrs& operator=(const SpawnAttrs&) = delete;
};

std::vector<char*> c_array(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

const char* signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? abbrev : "?";
}

}  // namespace

Result<pid_t> spawn_process(const SpawnRequest& request, int* spawn_errno) {
  if (spawn_errno != nullptr) *spawn_errno = 0;
  if (request.argv.empty() || request.argv[0].empty()) {
    return invalid_argument("spawn: empty command");
  }
  const bool search_path = request.argv[0].find('/') == std::string::npos;
  // The file to execute. Confined, it is the resolved path, so no symlink is followed again
  // between the check and the exec (the checkout is ours and read-only).
  std::string program = request.argv[0];
  std::string working_dir = request.working_dir;
  if (!request.confine_to.empty()) {
    auto dir = resolve_inside(request.confine_to, request.confine_to,
                              working_dir.empty() ? "." : working_dir, "the checkout");
    if (!dir) {
      return invalid_argument(fmt::format("spawn {}: working dir {}: {}", request.argv[0],
                                          working_dir, dir.status().message()));
    }
    working_dir = *dir;
    if (!search_path && request.argv[0].front() != '/') {
      auto resolved = resolve_inside(request.confine_to, *dir, request.argv[0], "the checkout");
      if (!resolved) {
        return invalid_argument(
            fmt::format("spawn {}: {}", request.argv[0], resolved.status().message()));
      }
      program = *resolved;
    }
  }
  SpawnAttrs s;
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (request.new_session) {
    flags |= POSIX_SPAWN_SETSID;
  } else {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&s.attr, 0);
  }
  posix_spawnattr_setflags(&s.attr, flags);
  sigset_t mask;
  sigemptyset(&mask);
  posix_spawnattr_setsigmask(&s.attr, &mask);
  sigset_t defaults;
  sigfillset(&defaults);
  sigdelset(&defaults, SIGKILL);
  sigdelset(&defaults, SIGSTOP);
  posix_spawnattr_setsigdefault(&s.attr, &defaults);

  const auto redirect = [&](int fd, int target, int open_flags) {
    if (fd >= 0) {
      posix_spawn_file_actions_adddup2(&s.actions, fd, target);
    } else {
      posix_spawn_file_actions_addopen(&s.actions, target, "/dev/null", open_flags, 0);
    }
  };
  redirect(request.stdin_fd, STDIN_FILENO, O_RDONLY);
  redirect(request.stdout_fd, STDOUT_FILENO, O_WRONLY);
  redirect(request.stderr_fd, STDERR_FILENO, O_WRONLY);
  posix_spawn_file_actions_addclosefrom_np(&s.actions, 3);
  if (!working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&s.actions, working_dir.c_str());
  }

  auto argv = c_array(request.argv);
  auto envp = c_array(request.env);
  pid_t pid = 0;
  const int rc =
      search_path
          ? posix_spawnp(&pid, argv[0], &s.actions, &s.attr, argv.data(), envp.data())
          : posix_spawn(&pid, program.c_str(), &s.actions, &s.attr, argv.data(), envp.data());
  if (rc != 0) {
    if (spawn_errno != nullptr) *spawn_errno = rc;
    return Status(rc == ENOENT || rc == EACCES || rc == ENOTDIR || rc == ENOEXEC
                      ? StatusCode::kInvalidArgument
                      : StatusCode::kUnavailable,
                  fmt::format("spawn {}: {}", request.argv[0], strerror(rc)));
  }
  return pid;
}

std::string ExitStatus::describe() const {
  if (signal) return fmt::format("killed by signal {} (SIG{})", *signal, signal_name(*signal));
  if (exit_code) return fmt::format("exited with code {}", *exit_code);
  return "exited (status unknown)";
}

ExitStatus decode_wait_status(int status) {
  ExitStatus out;
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  return out;
}

int open_pidfd(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

std::vector<std::string> current_environment() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

}  // namespace sluice
