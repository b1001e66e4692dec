// Registers the serve command (api). Not registered yet: this family of commands lands in its own
// change.
#include "cli/commands.h"

namespace sluice::cli {

void register_serve_command(CLI::App& /*app*/, CommandRegistry& /*registry*/) {}

}  // namespace sluice::cli
