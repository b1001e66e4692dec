// The `sluice` command line (CLI11). run() parses argv, dispatches to a subcommand and returns
// the process exit code (the contract's codes for `status`: 0 ok, 1 degraded, 2 timeout, 3 error).
#pragma once

namespace sluice::cli {

int run(int argc, char** argv);

}  // namespace sluice::cli
