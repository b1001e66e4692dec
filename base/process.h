// Starting processes without a shell: posix_spawn with an argv array, an explicit environment,
// a working directory, and stdio redirected to given descriptors. Used by exec probes, exec
// hooks (healthcheck/probe_exec.h), the local runtime's instances and gitops' signature checks.
//
// Every descriptor of the caller other than the requested stdio is closed in the child
// (closefrom), signal dispositions and mask are reset to defaults.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace sluice {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] containing '/' is a path (relative to working_dir);
                                  // otherwise it is searched in PATH
  std::vector<std::string> env;   // "NAME=value"; the complete environment of the child
  std::string working_dir;        // empty: the caller's
  int stdin_fd = -1;              // -1: /dev/null
  int stdout_fd = -1;             // -1: /dev/null
  int stderr_fd = -1;             // -1: /dev/null
  // true: the child starts a new session (setsid), so it is also its own process group and
  // survives the caller. false: only a new process group. Either way pgid == pid.
  bool new_session = false;
  // When set (a revision's checkout): working_dir (empty = this directory), and argv[0] when it
  // is a relative path (holds a '/'), must resolve inside it after every symlink is followed
  // (resolve_inside, base/filesystem.h); the program is then started by its resolved path, with
  // argv[0] passed as written. An absolute argv[0] or a PATH lookup is the caller's explicit
  // choice and is not confined.
  std::string confine_to;
};

// The pid of the started child, or an error naming the command and the errno text
// ("spawn ./bin/x: No such file or directory"). glibc reports exec and chdir failures here.
// A path that leaves confine_to is kInvalidArgument, "spawn <argv0>: <argv0> resolves to
// <where>, outside the checkout <dir>", and nothing is started.
// When `spawn_errno` is given, it receives the errno of a failed posix_spawn (0 otherwise), so a
// caller can tell Sluice's own resource errors (EAGAIN, ENOMEM, EMFILE) from a bad command.
Result<pid_t> spawn_process(const SpawnRequest& request, int* spawn_errno = nullptr);

// Decoded wait status.
struct ExitStatus {
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string describe() const;  // "exited with code 3", "killed by signal 9 (SIGKILL)"
};
ExitStatus decode_wait_status(int status);

// pidfd_open(2) (Linux >= 5.3) through syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C".
// Returns the descriptor (close-on-exec) or -1 with errno set.
int open_pidfd(pid_t pid);

// "NAME=value" for every variable of this process.
std::vector<std::string> current_environment();

}  // namespace sluice
