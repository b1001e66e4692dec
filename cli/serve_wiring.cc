// The one function that wires the real controller for `sluice serve` (filled in by the lead when
// the controller, gitops, runtime and traffic branches are merged).
#include "cli/serve.h"

namespace sluice::cli {

std::unique_ptr<controller::ControlFacade> make_controller(const api::ServeOptions& /*options*/,
                                                           boost::asio::io_context& /*ioc*/) {
  return nullptr;  // not wired in this build: run_serve() reports it and exits 3
}

}  // namespace sluice::cli
