// Runs a short-lived helper program (ssh-keygen, gpgv) to completion, bounded in time and output:
// the argv array is started through sluice::spawn_process (no shell), in a new session (so it
// has no controlling terminal and can never stop on a passphrase prompt), with an explicit
// environment; stdin comes from a file, stdout and stderr are read through pipes.
//
// Blocking: call it from a worker thread (the watcher's fetch thread, write-back's worker),
// never on the controller strand. Thread-safe (no shared state).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace sluice::gitops {

struct ToolRequest {
  std::vector<std::string> argv;  // argv[0] without '/' is looked up in this process's PATH
  std::vector<std::string> env;   // the child's whole environment ("NAME=value")
  std::string working_dir;        // "" = the caller's
  std::string stdin_file;         // "" = /dev/null
  Duration timeout{10'000};       // then the process group is SIGKILLed
  size_t output_limit = 64 * 1024;  // per stream; output beyond it is read and dropped
};

struct ToolOutcome {
  std::optional<int> exit_code;  // unset when the program died of a signal
  std::optional<int> signal;
  std::string out;  // stdout (at most output_limit bytes)
  std::string err;  // stderr (at most output_limit bytes)
  bool exited_zero() const { return exit_code && *exit_code == 0; }
};

// The outcome of a program that ran and ended by itself (whatever its exit code). Errors:
// the program could not be started ("spawn ssh-keygen: No such file or directory"), or it did
// not finish within the timeout (kDeadlineExceeded: "ssh-keygen did not finish within 10000ms";
// it is killed and reaped first).
Result<ToolOutcome> run_tool(const ToolRequest& request);

// A directory only this process can read (mode 0700), removed with its contents on
// destruction. For signatures, signed data and gpgv's home while a check runs.
class PrivateTempDir {
 public:
  // root "" = std::filesystem::temp_directory_path().
  static Result<PrivateTempDir> create(const std::string& root, const std::string& prefix);
  PrivateTempDir(PrivateTempDir&& other) noexcept;
  PrivateTempDir& operator=(PrivateTempDir&&) = delete;
  PrivateTempDir(const PrivateTempDir&) = delete;
  ~PrivateTempDir();
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name with mode 0600; returns the file's path.
  Result<std::string> write(const std::string& name, std::string_view content) const;

 private:
  explicit PrivateTempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The full path of `program` found in this process's PATH, or kNotFound.
Result<std::string> find_in_path(const std::string& program);

}  // namespace sluice::gitops
