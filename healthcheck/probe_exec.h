// Runs one command asynchronously with a timeout (exec probes, exec lifecycle hooks).
//
// The command is spawned (posix_spawn, no shell) into its own process group with stdout and
// stderr on a pipe whose tail is kept. Its exit is awaited through a pidfd registered with Asio,
// so nothing blocks the calling executor. On timeout the whole process group gets SIGKILL and
// the outcome says timed_out. After the command exits, leftovers in its process group are killed.
//
// Threading: the callback runs on `executor` exactly once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "base/clock.h"

namespace sluice::healthcheck {

struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // complete environment ("NAME=value")
  std::string working_dir;
  std::string confine_to;  // SpawnRequest::confine_to: the checkout a relative command stays in
  Duration timeout{1000};
  size_t output_limit = 4096;  // bytes of output tail kept
};

struct ExecOutcome {
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool timed_out = false;
  std::string error;   // spawn error (errno text); empty when the command ran
  std::string own_error;  // the pipe, spawn or pidfd failed for lack of Sluice's own resources
                          // (own_resource_error()); empty otherwise
  std::string output;  // tail of stdout+stderr
  Duration took{0};
  bool ok() const { return error.empty() && !timed_out && exit_code == 0; }
  std::string describe() const;  // "exit code 1: <tail>", "timed out after 1000ms", ...
};

void async_exec(const boost::asio::any_io_executor& executor, ExecSpec spec,
                std::function<void(ExecOutcome)> done);

}  // namespace sluice::healthcheck
