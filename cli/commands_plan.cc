// Registers the plan command (gitops). Not registered yet: this family of commands lands in its own
// change.
#include "cli/commands.h"

namespace sluice::cli {

void register_plan_command(CLI::App& /*app*/, CommandRegistry& /*registry*/) {}

}  // namespace sluice::cli
