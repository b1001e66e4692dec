// `sluice serve`: flags -> ServeOptions -> controller + API server, until SIGTERM/SIGINT.
//
// The controller is created by make_controller() (cli/serve_wiring.cc), the one place where the
// controller, GitOps source, runtime and router are wired together.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>

#include "api/config.h"
#include "controller/facade.h"

namespace sluice::cli {

// Builds and starts the real controller for `options`, running on `ioc` (not yet running).
// Errors: the state dir is locked by another process, the journal is corrupt (kDataLoss with the
// repair command), or the journal cannot be replayed.
Result<std::unique_ptr<controller::ControlFacade>> make_controller(const api::ServeOptions& options,
                                                                   boost::asio::io_context& ioc);

// Runs the server until a signal; returns the process exit code.
int run_serve(const api::ServeFlags& flags);

}  // namespace sluice::cli
