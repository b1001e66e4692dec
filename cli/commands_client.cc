// Registers the client commands (api). Not registered yet: this family of commands lands in its own
// change.
#include "cli/commands.h"

namespace sluice::cli {

void register_client_commands(CLI::App& /*app*/, CommandRegistry& /*registry*/) {}

}  // namespace sluice::cli
