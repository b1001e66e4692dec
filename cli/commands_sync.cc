// `sluice sync`: POST /api/v1/sync — fetch the Git source now and wait until the fetched commit
// has been applied. Prints the source status (commit, error) the server answers with.
// Exit 0 when the fetched head was applied, 1 when the head is invalid (the server keeps the last
// good commit and reports the error), 3 on any other error.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "base/duration.h"
#include "cli/client.h"
#include "cli/client_view.h"
#include "cli/commands.h"

namespace sluice::cli {
namespace {

struct SyncOptions {
  std::string server = "http://127.0.0.1:7070";
  std::string token;
  std::string output = "table";
};

int run_sync(const SyncOptions& o) {
  ApiClient client(o.server, o.token, Duration(120'000));
  auto reply = client.post("/api/v1/sync");
  if (!reply.is_ok()) {
    std::fprintf(stderr, "error: %s\n", reply.status().message().c_str());
    return kExitError;
  }
  if (reply->status != 200) {
    std::fprintf(stderr, "error: sync: %s\n", reply->error_message().c_str());
    return kExitError;
  }
  const nlohmann::json& source = reply->json;
  const bool invalid = source.contains("error") && !source["error"].is_null();
  if (o.output == "json") {
    std::printf("%s\n", source.dump(2).c_str());
  } else {
    const std::string commit = source.value("commit", std::string());
    std::printf("applied commit %s\n", commit.substr(0, 12).c_str());
    // Applied is not running: each rollout says whether what runs is what Git says.
    if (source.contains("rollouts") && source["rollouts"].is_object()) {
      for (const auto& [name, sync] : source["rollouts"].items()) {
        std::printf("  %s: %s\n", name.c_str(), sync_text({{"sync", sync}}).c_str());
      }
    }
    if (invalid) {
      const auto& e = source["error"];
      std::printf("head %s is invalid and was not applied: %s:%s: %s\n",
                  e.value("commit", std::string()).substr(0, 12).c_str(),
                  e.value("file", std::string()).c_str(),
                  e.contains("line") ? e["line"].dump().c_str() : "?",
                  e.value("message", std::string()).c_str());
    }
  }
  return invalid ? kExitDegraded : kExitOk;
}

}  // namespace

void register_sync_command(CLI::App& app, CommandRegistry& registry) {
  auto o = std::make_shared<SyncOptions>();
  auto* cmd = app.add_subcommand(
      "sync", "Fetch the Git source now; exit 0 once applied, 1 if the head is invalid");
  cmd->add_option("--server", o->server, "API server URL")
      ->envname("SLUICE_SERVER")
      ->capture_default_str();
  cmd->add_option("--token", o->token, "API bearer token")->envname("SLUICE_TOKEN");
  cmd->add_option("-o,--output", o->output, "Output format: table or json")
      ->check(CLI::IsMember({"table", "text", "json"}))
      ->capture_default_str();
  cmd->callback([o, &registry] { registry.set_exit_code(run_sync(*o)); });
}

}  // namespace sluice::cli
