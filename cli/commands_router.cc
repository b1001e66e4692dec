// `sluice router --state-dir DIR`: the built-in router as its own process (traffic/router_control.h).
// `sluice serve` starts it when none answers in <state>/router and leaves it running when it
// stops, so front doors outlive the controller. Run by hand it does the same job; SIGTERM or
// SIGINT stop it (front doors close, in-flight requests are cut).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "api/logging.h"
#include "base/descriptors.h"
#include "base/filesystem.h"
#include "cli/commands.h"
#include "traffic/builtin_router.h"
#include "traffic/router_control.h"

namespace sluice::cli {

namespace {

int run_router(const std::string& dir, int threads, const std::string& log_level) {
  if (Status st = api::setup_logging("text", log_level); !st.is_ok()) {
    std::fprintf(stderr, "sluice router: %s\n", st.message().c_str());
    return 3;
  }
  // Block the stop signals in every thread (the router's threads inherit the mask), then wait
  // for one here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (auto limit = raise_descriptor_limit(); limit.is_ok()) {
    spdlog::info("router: descriptor limit {} (hard {})", limit->soft, limit->hard);
  }

  traffic::ProxyOptions proxy;
  proxy.threads = threads;
  traffic::BuiltinRouter router(SystemClock::instance(), proxy);
  PosixFilesystem fs;
  traffic::RouterControlServer control(router, fs, dir);
  control.on_orphaned([] { ::kill(::getpid(), SIGTERM); });
  auto started = control.start();
  if (!started.is_ok()) {
    spdlog::error("router: {}", started.status().message());
    return 3;
  }
  for (const auto& problem : *started) spdlog::warn("router: {}", problem);
  spdlog::info("router: pid {} answering on {}", ::getpid(), traffic::router_socket_path(dir));
  int signo = 0;
  sigwait(&stop_signals, &signo);
  spdlog::info("router: signal {}: stopping", signo);
  control.stop();
  return 0;
}

}  // namespace

void register_router_command(CLI::App& app, CommandRegistry& registry) {
  struct Options {
    std::string dir;
    int threads = 2;
    std::string log_level = "info";
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "router", "Run the built-in router as its own process (sluice serve starts it itself)");
  cmd->add_option("--state-dir", options->dir, "Its state dir (serve uses <state>/router)")
      ->required();
  cmd->add_option("--threads", options->threads, "I/O threads (default 2)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--log-level", options->log_level, "trace|debug|info|warn|error");
  cmd->callback([options, &registry] {
    registry.set_exit_code(run_router(options->dir, options->threads, options->log_level));
  });
}

}  // namespace sluice::cli
