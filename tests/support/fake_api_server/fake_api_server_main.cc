// fake_api_server: the real ApiServer around the scripted FakeFacade (test-only).
//
//   fake_api_server [--listen 127.0.0.1:0] [--auth-file F] [--webhook-secret-file F]
//                   [--tick-ms 300] [--heartbeat-ms 15000] [--bench-rollouts N]
//
// Prints "listening on HOST:PORT" on stdout once bound, then serves until SIGTERM/SIGINT.
// Scenario (unless --bench-rollouts): orders-api Paused at step 1 (manual promote),
// payments Degraded with evidence, checkout Progressing and auto-advancing to Healthy
// (commit feedbeef...), search Progressing forever, inventory Healthy.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "api/auth.h"
#include "api/server.h"
#include "fake_facade.h"

namespace {

struct Args {
  std::string listen = "127.0.0.1:0";
  std::string auth_file, webhook_secret_file;
  int tick_ms = 300;
  int heartbeat_ms = 15000;
  int bench_rollouts = 0;
};

void schedule_ticks(boost::asio::steady_timer& timer, sluice::testing::FakeFacade& facade,
                    int tick_ms) {
  timer.expires_after(std::chrono::milliseconds(tick_ms));
  timer.async_wait([&timer, &facade, tick_ms](boost::system::error_code ec) {
    if (ec) return;
    facade.tick();
    schedule_ticks(timer, facade, tick_ms);
  });
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen")
      args.listen = next();
    else if (a == "--auth-file")
      args.auth_file = next();
    else if (a == "--webhook-secret-file")
      args.webhook_secret_file = next();
    else if (a == "--tick-ms")
      args.tick_ms = std::stoi(next());
    else if (a == "--heartbeat-ms")
      args.heartbeat_ms = std::stoi(next());
    else if (a == "--bench-rollouts")
      args.bench_rollouts = std::stoi(next());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }

  sluice::testing::FakeFacade facade;
  if (args.bench_rollouts > 0) {
    for (int i = 0; i < args.bench_rollouts; ++i)
      facade.add_canary("svc-" + std::to_string(i), "Progressing", 2);
  } else {
    facade.add_canary("orders-api", "Paused", 1);
    facade.add_canary("payments", "Progressing", 2);
    facade.abort_with("payments",
                      "analysis canary-success-rate failed: success-rate 0.82 < 0.95 "
                      "(3 of 4 measurements failed)",
                      {{"metric", "success-rate"},
                       {"condition", "result >= 0.95"},
                       {"values", {0.91, 0.85, 0.82}}});
    facade.add_canary("checkout", "Progressing", 0, /*auto_advance=*/true, "feedbeef00112233");
    facade.add_canary("search", "Progressing", 2);
    facade.add_canary("inventory", "Healthy", 0);
  }

  sluice::api::Authenticator auth;
  if (!args.auth_file.empty()) {
    if (auto st = auth.load_auth_file(args.auth_file); !st.is_ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 2;
    }
  }
  sluice::api::WebhookSecrets webhooks;
  if (!args.webhook_secret_file.empty()) {
    auto secret = sluice::api::read_secret_file(args.webhook_secret_file);
    if (!secret.is_ok()) {
      std::fprintf(stderr, "%s\n", secret.status().message().c_str());
      return 2;
    }
    webhooks.github_secret = *secret;
  }

  boost::asio::io_context ioc;
  sluice::api::ServerOptions options;
  options.listen = args.listen;
  options.heartbeat_interval = sluice::Duration(args.heartbeat_ms);
  sluice::api::ApiServer server(ioc, facade, auth, webhooks, options);
  auto bound = server.start();
  if (!bound.is_ok()) {
    std::fprintf(stderr, "%s\n", bound.status().message().c_str());
    return 2;
  }
  std::printf("listening on %s:%u\n", bound->address().to_string().c_str(), bound->port());
  std::fflush(stdout);

  boost::asio::steady_timer ticker(ioc);
  if (args.tick_ms > 0) schedule_ticks(ticker, facade, args.tick_ms);

  boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code, int) {
    ticker.cancel();
    server.shutdown(sluice::Duration(2000), [&ioc] { ioc.stop(); });
  });
  std::thread second([&ioc] { ioc.run(); });
  ioc.run();
  second.join();
  return 0;
}
