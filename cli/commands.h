// Subcommands register themselves on the CLI11 app; each sets the exit code through the registry.
// One file per command family: commands_lint.cc, commands_plan.cc, commands_serve.cc,
// commands_client.cc (get/status/promote/abort/retry/pause/resume/undo/history/events),
// commands_journal.cc (journal repair).
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

void register_version_command(CLI::App& app, CommandRegistry& registry);
void register_lint_command(CLI::App& app, CommandRegistry& registry);      // commands_lint.cc
void register_plan_command(CLI::App& app, CommandRegistry& registry);      // commands_plan.cc
void register_serve_command(CLI::App& app, CommandRegistry& registry);     // commands_serve.cc
void register_client_commands(CLI::App& app, CommandRegistry& registry);   // commands_client.cc
void register_journal_commands(CLI::App& app, CommandRegistry& registry);  // commands_journal.cc
void register_sync_command(CLI::App& app, CommandRegistry& registry);      // commands_sync.cc
void register_router_command(CLI::App& app, CommandRegistry& registry);    // commands_router.cc
void register_logs_command(CLI::App& app, CommandRegistry& registry);      // commands_logs.cc
void register_all_commands(CLI::App& app, CommandRegistry& registry);

}  // namespace sluice::cli
