// End to end through Git: an invalid commit changes nothing (the error names the file and line,
// the instances keep their pids); a valid commit that removes a Rollout deletes it and stops its
// instances, unless its spec says prune: false, which keeps it running, orphaned and visible.
#include <signal.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <string>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"
#include "tests/support/process/test_process.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string rollout(const E2eEnv& env, const std::string& name, bool prune) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: {0}}}
spec:
  replicas: 1
  prune: {1}
  template:
    version: "1.0.0"
    command: ["bin/orders-api", "--port", "$(PORT)", "--version", "1.0.0"]
    env: [{{name: SLUICE_E2E_MARKER, value: "{2}"}}]
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 5
  strategy: {{rollingUpdate: {{maxSurge: 1}}}}
)YAML",
                     name, prune ? "true" : "false", env.marker_value());
}

size_t instances_of(E2eEnv& env, const std::string& rollout) {
  size_t n = 0;
  for (const auto& [instance, pid] : env.instance_pids()) {
    if (instance.rfind(rollout + "-", 0) == 0) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("Git: an invalid commit prunes nothing, removal deletes or orphans", "[e2e][gitops]") {
  E2eEnv env;
  env.write("services/pruned.yaml", rollout(env, "pruned", true));
  env.write("services/kept.yaml", rollout(env, "kept", false));
  const std::string sha1 = env.commit("two services");
  std::string why;
  REQUIRE(env.start_serve(why));
  for (const char* name : {"pruned", "kept"}) {
    auto st = env.cli({"status", name, "--wait", "--revision", sha1, "--timeout", "60s"});
    INFO(name << ": " << st.out << st.err);
    REQUIRE(st.exit_code == 0);
  }
  const auto pids = env.instance_pids();
  REQUIRE(pids.size() == 2);

  // An invalid commit: one file broken, the other removed. Nothing is applied or pruned.
  std::string broken = rollout(env, "pruned", true);
  broken.replace(broken.find("replicas: 1"), 11, "replicas: many");
  env.write("services/pruned.yaml", broken);
  std::filesystem::remove(env.repo() + "/services/kept.yaml");
  const std::string bad = env.commit("broken");
  auto sync = env.cli({"sync", "-o", "json"});
  INFO(sync.out << sync.err);
  CHECK(sync.exit_code == 1);
  const json source = sync.json();
  CHECK(source.value("commit", "") == sha1);  // the last good commit stays applied
  REQUIRE(source["error"].is_object());
  CHECK(source["error"].value("commit", "") == bad);
  CHECK(source["error"].value("file", "") == "services/pruned.yaml");
  CHECK(source["error"].value("line", 0) == 5);
  CHECK(source["error"].value("message", "").find("spec.replicas") != std::string::npos);
  CHECK(env.instance_pids() == pids);
  CHECK(env.rollout("pruned").is_object());
  CHECK(env.rollout("kept").value("orphaned", true) == false);
  auto metrics = http(env.api_port(), "GET", "/metrics");
  REQUIRE(metrics.is_ok());
  CHECK(metric_value(metrics->body, "sluice_git_source_invalid") == 1.0);

  // A valid commit that removes both: `pruned` is deleted and stopped, `kept` is orphaned.
  std::filesystem::remove(env.repo() + "/services/pruned.yaml");
  env.write("services/other.yaml", rollout(env, "other", true));
  const std::string sha3 = env.commit("remove pruned and kept");
  sync = env.cli({"sync", "-o", "json"});
  INFO(sync.out << sync.err);
  CHECK(sync.exit_code == 0);
  CHECK(sync.json().value("commit", "") == sha3);
  CHECK(poll_until([&] { return env.rollout("pruned").is_null(); }, 20s));
  CHECK(poll_until([&] { return instances_of(env, "pruned") == 0; }, 20s));
  const json kept = env.rollout("kept");
  INFO(kept.dump(2));
  CHECK(kept.value("orphaned", false));
  CHECK(instances_of(env, "kept") == 1);
  for (const auto& [instance, pid] : env.instance_pids()) {
    if (instance.rfind("kept-", 0) == 0) CHECK(pids.at(instance) == pid);
  }
  auto events = env.cli({"events", "kept", "-o", "json"});
  REQUIRE(events.exit_code == 0);
  CHECK(events.out.find("Orphaned") != std::string::npos);
  metrics = http(env.api_port(), "GET", "/metrics");
  REQUIRE(metrics.is_ok());
  CHECK(metric_value(metrics->body, "sluice_git_source_invalid") == 0.0);
}

TEST_CASE("sluice plan: what a commit would do, offline, with lint's errors", "[e2e][gitops]") {
  E2eEnv env;
  env.write("services/web.yaml", rollout(env, "web", true));
  const std::string sha1 = env.commit("web");
  std::string two = rollout(env, "web", true);
  two.replace(two.find("replicas: 1"), 11, "replicas: 3");
  env.write("services/web.yaml", two);
  env.write("services/api.yaml", rollout(env, "api", true));
  const std::string sha2 = env.commit("scale web, add api");

  auto plan = env.offline_cli({"plan", "--repo", env.repo(), "-o", "json"});
  INFO(plan.out << plan.err);
  REQUIRE(plan.exit_code == 0);
  json j = plan.json();
  REQUIRE(j.is_object());
  CHECK(j["from"].value("sha", "") == sha1);
  std::map<std::string, std::string> actions;
  for (const auto& r : j["rollouts"]) actions[r.value("name", "")] = r.value("action", "");
  CHECK(actions["web"] == "scale");
  CHECK(actions["api"] == "new revision");

  std::string broken = two;
  broken.replace(broken.find("replicas: 3"), 11, "replicas: -3");
  env.write("services/web.yaml", broken);
  env.commit("broken");
  plan = env.offline_cli({"plan", "--repo", env.repo()});
  INFO(plan.out << plan.err);
  CHECK(plan.exit_code == 1);
  CHECK(plan.out.find("services/web.yaml:5:") != std::string::npos);
  CHECK(plan.out.find("spec.replicas") != std::string::npos);
  // --from/--to compare any two revisions.
  plan = env.offline_cli({"plan", "--repo", env.repo(), "--from", sha1, "--to", sha2});
  CHECK(plan.exit_code == 0);
}
