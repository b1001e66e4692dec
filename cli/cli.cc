#include "cli/cli.h"

#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace sluice::cli {

int run(int argc, char** argv) {
  CLI::App app{"sluice: progressive delivery for stream-processing services"};
  app.require_subcommand(1);
  app.set_version_flag("--version", SLUICE_VERSION_STRING);
  CommandRegistry registry;
  register_all_commands(app, registry);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 3;
  }
  return registry.exit_code();
}

}  // namespace sluice::cli
