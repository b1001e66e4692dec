// Subcommands register themselves on the CLI11 app; each sets the exit code through the registry.
#pragma once

#include <CLI/CLI.hpp>

#ifndef SLUICE_VERSION_STRING
#define SLUICE_VERSION_STRING "0.1.0"
#endif

namespace sluice::cli {

class CommandRegistry {
 public:
  void set_exit_code(int code) { exit_code_ = code; }
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_ = 0;
};

// Each commands_*.cc defines one register_*; register_all_commands calls them all.
void register_version_command(CLI::App& app, CommandRegistry& registry);
void register_all_commands(CLI::App& app, CommandRegistry& registry);

}  // namespace sluice::cli
