#include "cli/commands.h"

#include <cstdio>

namespace sluice::cli {

void register_version_command(CLI::App& app, CommandRegistry& registry) {
  auto* cmd = app.add_subcommand("version", "Print the version");
  cmd->callback([&registry] {
    std::printf("sluice %s\n", SLUICE_VERSION_STRING);
    registry.set_exit_code(0);
  });
}

void register_all_commands(CLI::App& app, CommandRegistry& registry) {
  register_version_command(app, registry);
  register_lint_command(app, registry);
  register_plan_command(app, registry);
  register_serve_command(app, registry);
  register_client_commands(app, registry);
  register_sync_command(app, registry);
  register_journal_commands(app, registry);
  register_router_command(app, registry);
  register_logs_command(app, registry);
}

}  // namespace sluice::cli
