// `sluice logs NAME [--revision N] [--instance ID] [--tail N] [--follow]`: instance output, as
// `kubectl logs` prints it (each line prefixed with "[<instance id>] " when several instances
// are shown). Exit 0, or 3 on any error (unknown rollout or revision, unreachable server).
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/client.h"
#include "cli/client_view.h"
#include "cli/commands.h"

namespace sluice::cli {
namespace {

struct LogsOptions {
  std::string server = "http://127.0.0.1:7070";
  std::string token;
  std::string name;
  int64_t revision = 0;  // 0 = every revision in history
  std::string instance;
  int64_t tail = -1;  // -1 = all (up to the server's byte bound)
  bool follow = false;
};

std::string escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string logs_target(const LogsOptions& o) {
  std::string target = "/api/v1/rollouts/" + escape(o.name) + "/logs";
  std::string query;
  auto add = [&](const std::string& key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + key + "=" + escape(value);
  };
  if (o.revision > 0) add("revision", std::to_string(o.revision));
  if (!o.instance.empty()) add("instance", o.instance);
  if (o.tail >= 0) add("tail", std::to_string(o.tail));
  if (o.follow) add("follow", "1");
  return target + query;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return kExitError;
}

int run_logs(const LogsOptions& o) {
  ApiClient client(o.server, o.token);
  if (!o.follow) {
    auto reply = client.get(logs_target(o));
    if (!reply.is_ok()) return fail(reply.status().message());
    if (reply->status != 200) return fail(reply->error_message());
    std::fwrite(reply->body.data(), 1, reply->body.size(), stdout);
    std::fflush(stdout);
    return kExitOk;
  }
  // Follow until the server ends the stream (its length bound, the rollout went away) or the
  // user interrupts. The server sends nothing while the instances are quiet, so the quiet wait
  // is long; it only bounds a server that vanished without closing.
  Status streamed = client.stream_text(
      logs_target(o),
      [](std::string_view text) {
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
        return true;
      },
      Duration(3'600'000));
  if (!streamed) return fail(streamed.message());
  return kExitOk;
}

}  // namespace

void register_logs_command(CLI::App& app, CommandRegistry& registry) {
  auto o = std::make_shared<LogsOptions>();
  auto* cmd = app.add_subcommand(
      "logs",
      "Print instance output (stdout and stderr), also of gone instances while their revision "
      "is in history");
  cmd->add_option("NAME", o->name, "Rollout name")->required();
  cmd->add_option("--revision", o->revision, "Only this revision (default: every one)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--instance", o->instance, "Only this instance (an id from `sluice get`)");
  cmd->add_option("--tail", o->tail, "Only the last N lines of each instance")
      ->check(CLI::Range(int64_t{0}, int64_t{100'000}));
  cmd->add_flag("-f,--follow", o->follow, "Keep printing new output until interrupted");
  cmd->add_option("--server", o->server, "API server URL")
      ->envname("SLUICE_SERVER")
      ->capture_default_str();
  cmd->add_option("--token", o->token, "API bearer token")->envname("SLUICE_TOKEN");
  cmd->callback([o, &registry] { registry.set_exit_code(run_logs(*o)); });
}

}  // namespace sluice::cli
