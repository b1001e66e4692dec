// End to end, with the real binaries: "why did the canary fail?" answered after the abort.
// A canary of orders-api fails its analysis and is aborted and scaled down; `sluice logs` still
// shows what its instance wrote, with --tail and the [instance] prefix, follows a running
// instance, refuses an unknown rollout or revision with a clear error, and the kept log goes
// away when its revision leaves history (revisionHistoryLimit).
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// One replica; every canary meets an analysis step whose job always fails, so each new version
// is aborted right after its instance started. revisionHistoryLimit 1 keeps 3 revisions.
std::string manifest(const E2eEnv& env, const std::string& version) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: shop}}
spec:
  replicas: 1
  revisionHistoryLimit: 1
  template:
    version: "{0}"
    command: ["bin/orders-api", "--port", "$(PORT)", "--version", "{0}"]
    env: [{{name: SLUICE_E2E_MARKER, value: "{1}"}}]
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 5
  strategy:
    canary:
      steps: [{{setWeight: 50}}, {{analysis: {{templates: [{{templateName: gate}}]}}}}]
      abortScaleDownDelaySeconds: 0
---
apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {{name: gate}}
spec:
  metrics:
    - name: gate
      failureLimit: 0
      successCondition: result == 1
      provider:
        job: {{command: ["/bin/false"]}}
)YAML",
                     version, env.marker_value());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("sluice logs shows an aborted canary's output until its revision leaves history",
          "[e2e][logs]") {
  E2eEnv env;
  env.write("shop.yaml", manifest(env, "1.0.0"));
  const std::string sha1 = env.commit("shop 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  INFO(why);
  auto first = env.cli({"status", "shop", "--wait", "--revision", sha1, "--timeout", "60s"});
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);

  // Revision 2 fails its analysis: aborted, and its instance is stopped.
  env.write("shop.yaml", manifest(env, "2.0.0"));
  const std::string sha2 = env.commit("shop 2.0.0 (fails its gate)");
  auto bad = env.cli({"status", "shop", "--wait", "--revision", sha2, "--timeout", "60s"});
  INFO(bad.out << bad.err);
  REQUIRE(bad.exit_code == 1);
  REQUIRE(poll_until(
      [&] {
        const json r = env.rollout("shop");
        return r.is_object() && r.value("aborted", false) && env.instance_pids().size() == 1;
      },
      30s));

  // The canary is gone; its output is not.
  auto logs = env.cli({"logs", "shop", "--revision", "2"});
  INFO(logs.out << logs.err);
  REQUIRE(logs.exit_code == 0);
  CHECK(logs.out.find("orders-api 2.0.0 listening on 127.0.0.1:") != std::string::npos);
  CHECK(logs.out.find("orders-api: signal 15, draining") != std::string::npos);
  CHECK(logs.out.find("orders-api 1.0.0") == std::string::npos);  // only revision 2's
  CHECK(logs.out.rfind("[", 0) == std::string::npos);  // one instance: no prefix

  // --tail: only the last line, the one written as it was stopped.
  auto tail = env.cli({"logs", "shop", "--revision", "2", "--tail", "1"});
  INFO(tail.out << tail.err);
  CHECK(tail.exit_code == 0);
  const auto tail_lines = lines_of(tail.out);
  REQUIRE(tail_lines.size() == 1);
  CHECK(tail_lines[0].find("signal 15, draining") != std::string::npos);

  // Every revision: two instances, so each line names its instance, oldest revision first.
  auto all = env.cli({"logs", "shop"});
  INFO(all.out << all.err);
  CHECK(all.exit_code == 0);
  const auto all_lines = lines_of(all.out);
  REQUIRE(all_lines.size() >= 3);
  CHECK(all_lines.front().rfind("[shop-1-", 0) == 0);
  CHECK(all_lines.back().rfind("[shop-2-", 0) == 0);

  // --follow prints what the running stable instance wrote, and keeps the stream open (the
  // run is ended by its timeout here, as by ^C).
  auto follow = env.cli({"logs", "shop", "--revision", "1", "--follow"}, 3s);
  INFO(follow.out << follow.err);
  CHECK(follow.exit_code == -1);
  CHECK(follow.out.find("orders-api 1.0.0 listening on 127.0.0.1:") != std::string::npos);

  // Unknown names are errors that say what is unknown: 404 from the API, exit 3 from the CLI.
  auto api_unknown = http(env.api_port(), "GET", "/api/v1/rollouts/nope/logs");
  REQUIRE(api_unknown.is_ok());
  CHECK(api_unknown->status == 404);
  CHECK(api_unknown->body.find("rollout nope not found") != std::string::npos);
  auto api_revision = http(env.api_port(), "GET", "/api/v1/rollouts/shop/logs?revision=9");
  REQUIRE(api_revision.is_ok());
  CHECK(api_revision->status == 404);
  CHECK(api_revision->body.find("no revision 9 in its history") != std::string::npos);
  auto cli_unknown = env.cli({"logs", "nope"});
  CHECK(cli_unknown.exit_code == 3);
  CHECK(cli_unknown.err.find("rollout nope not found") != std::string::npos);

  // Two more revisions push revision 2 out of history (limit 1 + stable + current): its kept
  // log is deleted with it.
  // serve gives the runtime <state>/runtime as its state dir, which keeps its files in runtime/.
  const std::string kept_dir = env.state_dir() + "/runtime/runtime/logs/shop/2";
  CHECK(std::filesystem::exists(kept_dir));
  for (const char* version : {"3.0.0", "4.0.0"}) {
    env.write("shop.yaml", manifest(env, version));
    const std::string sha = env.commit(std::string("shop ") + version);
    auto run = env.cli({"status", "shop", "--wait", "--revision", sha, "--timeout", "60s"});
    INFO(version << ": " << run.out << run.err);
    CHECK(run.exit_code == 1);
  }
  CHECK(poll_until([&] { return !std::filesystem::exists(kept_dir); }, 10s));
  auto gone = env.cli({"logs", "shop", "--revision", "2"});
  CHECK(gone.exit_code == 3);
  CHECK(gone.err.find("no revision 2 in its history") != std::string::npos);
}
