#include "cli/serve.h"

#include <csignal>
#include <cstdio>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/signal_set.hpp>

#include "api/auth.h"
#include "api/logging.h"
#include "api/server.h"
#include "base/duration.h"
#include "base/redact.h"

namespace sluice::cli {
namespace {

constexpr int kExitError = 3;

int fail(const std::string& message) {
  std::fprintf(stderr, "sluice serve: %s\n", message.c_str());
  return kExitError;
}

Status load_tokens(const api::ServeOptions& o, api::Authenticator& auth) {
  for (const auto& t : o.tokens) {
    std::string token = t.token;
    if (!t.token_file.empty()) {
      auto read = api::read_secret_file(t.token_file);
      if (!read.is_ok()) return read.status();
      token = *read;
    }
    auto role = api::parse_role(t.role);
    if (!role) return invalid_argument("unknown role '" + t.role + "'");
    if (Status st = auth.add_token(token, *role, t.name); !st.is_ok())
      return invalid_argument("auth.tokens '" + t.name + "': " + st.message());
  }
  if (o.auth_file) return auth.load_auth_file(*o.auth_file);
  return Status::ok();
}

}  // namespace

int run_serve(const api::ServeFlags& flags) {
  auto options = api::resolve_serve_options(flags);
  if (!options.is_ok()) return fail(options.status().message());
  const api::ServeOptions& o = *options;
  if (Status st = api::setup_logging(o.log_format, o.log_level); !st.is_ok())
    return fail(st.message());

  api::Authenticator auth;
  if (Status st = load_tokens(o, auth); !st.is_ok()) return fail(st.message());
  api::WebhookSecrets webhooks;
  if (o.github_secret_file) {
    auto secret = api::read_secret_file(*o.github_secret_file);
    if (!secret.is_ok()) return fail(secret.status().message());
    webhooks.github_secret = *secret;
  }
  if (o.gitlab_token_file) {
    auto token = api::read_secret_file(*o.gitlab_token_file);
    if (!token.is_ok()) return fail(token.status().message());
    webhooks.gitlab_token = *token;
  }

  boost::asio::io_context ioc;
  auto made = make_controller(o, ioc);
  if (!made.is_ok()) return fail(made.status().message());
  std::unique_ptr<controller::ControlFacade> facade = std::move(*made);

  api::ServerOptions server_options;
  server_options.listen = o.listen;
  server_options.allowed_hosts = o.allowed_hosts;
  api::ApiServer server(ioc, *facade, auth, webhooks, server_options);
  auto bound = server.start();
  if (!bound.is_ok()) return fail(bound.status().message());
  spdlog::info("api listening on {}:{} ({} tokens, repo {} branch {})",
               bound->address().to_string(), bound->port(), auth.size(), redact_url(o.repo),
               o.branch);

  boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", signo);
    server.shutdown(Duration(5'000), [&ioc] { ioc.stop(); });
  });
  std::thread worker([&ioc] { ioc.run(); });
  ioc.run();
  worker.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace sluice::cli
