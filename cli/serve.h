// `sluice serve`: flags -> ServeOptions -> controller + API server, until SIGTERM/SIGINT.
//
// The controller is created by make_controller() (cli/serve_wiring.cc), the one place where the
// controller, GitOps source, runtime and router are wired together. Until that wiring exists it
// returns nullptr and `serve` exits with a clear error: the product never serves a fake.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>

#include "api/config.h"
#include "controller/facade.h"

namespace sluice::cli {

// Builds the real controller for `options`, running on `ioc`. nullptr when this build has no
// controller wiring (serve then fails with exit code 3).
std::unique_ptr<controller::ControlFacade> make_controller(const api::ServeOptions& options,
                                                           boost::asio::io_context& ioc);

// Runs the server until a signal; returns the process exit code.
int run_serve(const api::ServeFlags& flags);

}  // namespace sluice::cli
