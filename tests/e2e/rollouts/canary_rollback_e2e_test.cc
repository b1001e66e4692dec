// End to end, with the real binaries: a Git commit rolls orders-api out by canary through the
// built-in router under steady client load; a good version is promoted, a bad one is rolled back
// automatically, and `sluice status --wait --revision` gives a CI step the right exit code. Then
// the controller is SIGKILLed at five points of a canary (two of them inside actions: a scale
// waiting for its instance, a weight change) and restarted: the rollout resumes and finishes the
// same way, and the service instances keep their pids.
#include <signal.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct RolloutSpec {
  std::string version;
  double error_rate = 0;
  int front_port = 0;
  std::string steps;  // YAML flow sequence
  int ready_delay_s = 0;  // readinessProbe.initialDelaySeconds: a window in which a scale is under way
};

std::string orders_api_manifest(const E2eEnv& env, const RolloutSpec& s) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: shop}}
spec:
  replicas: 2
  template:
    version: "{0}"
    command: ["bin/orders-api", "--port", "$(PORT)", "--version", "{0}"]
    env:
      - {{name: ERROR_RATE, value: "{1}"}}
      - {{name: SLUICE_E2E_MARKER, value: "{2}"}}
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1, initialDelaySeconds: {5}}}
    terminationGracePeriodSeconds: 5
  service: {{listen: "127.0.0.1:{3}", targetPort: http}}
  strategy:
    canary:
      maxSurge: 1
      maxUnavailable: 0
      trafficRouting: {{builtin: {{}}}}
      analysis:
        templates: [{{templateName: success-rate}}]
        startingStep: 0
      steps: {4}
      scaleDownDelaySeconds: 1
      abortScaleDownDelaySeconds: 1
---
apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {{name: success-rate}}
spec:
  metrics:
    - name: success-rate
      interval: 500ms
      failureLimit: 0
      successCondition: isNaN(result) || result >= 0.95
      provider:
        builtin: {{metric: request-success-rate, version: canary, window: 2s}}
)YAML",
                     s.version, s.error_rate, env.marker_value(), s.front_port, s.steps,
                     s.ready_delay_s);
}

bool healthy_at(const json& r, const std::string& sha) {
  return r.value("phase", "") == "Healthy" &&
         r["desired"].value("commit", "").rfind(sha.substr(0, 12), 0) == 0;
}

uint64_t answered_by(const json& stats, const std::string& version) {
  if (!stats.contains("versions") || !stats["versions"].contains(version)) return 0;
  const json& v = stats["versions"][version];
  return v.value("ok", uint64_t{0}) + v.value("clientErrors", uint64_t{0}) +
         v.value("serverErrors", uint64_t{0});
}

// NAME -> VALUE of a process's environment (/proc/PID/environ).
std::map<std::string, std::string> environment_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::map<std::string, std::string> out;
  std::string entry;
  while (std::getline(in, entry, '\0')) {
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) out[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return out;
}

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

uint64_t server_errors(const json& stats, const std::string& version) {
  if (!stats.contains("versions") || !stats["versions"].contains(version)) return 0;
  return stats["versions"][version].value("serverErrors", uint64_t{0});
}

}  // namespace

TEST_CASE("a bad canary is rolled back automatically, status --wait gives CI 0 then 1",
          "[e2e][canary]") {
  E2eEnv env;
  RolloutSpec spec{"1.0.0", 0, free_loopback_port(),
                   "[{setWeight: 25}, {pause: {duration: 2s}}, {setWeight: 50}, "
                   "{pause: {duration: 2s}}]"};
  env.write("shop.yaml", orders_api_manifest(env, spec));
  const std::string sha1 = env.commit("shop 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  INFO(why);

  auto first = env.cli({"status", "shop", "--wait", "--revision", sha1, "--timeout", "60s"});
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);

  LoadGenerator load(env.dir(), spec.front_port, 200, 4);
  REQUIRE(poll_until([&] { return answered_by(load.stats(), "1.0.0") > 20; }, 10s));

  // A good version: promoted after its steps and analysis; status --wait exits 0.
  spec.version = "2.0.0";
  env.write("shop.yaml", orders_api_manifest(env, spec));
  const std::string sha2 = env.commit("shop 2.0.0");
  auto good = env.cli({"status", "shop", "--wait", "--revision", sha2, "--timeout", "90s"});
  INFO(good.out << good.err);
  CHECK(good.exit_code == 0);
  json r = env.rollout("shop");
  CHECK(healthy_at(r, sha2));
  CHECK(r["stable"].value("version", "") == "2.0.0");

  // A bad version: 40% of its requests fail. The background analysis fails, the controller
  // aborts, 100% of traffic goes back to 2.0.0, and status --wait exits 1 naming the metric.
  spec.version = "3.0.0";
  spec.error_rate = 0.4;
  env.write("shop.yaml", orders_api_manifest(env, spec));
  const std::string sha3 = env.commit("shop 3.0.0 (bad)");
  auto bad = env.cli({"status", "shop", "--wait", "--revision", sha3, "--timeout", "90s"});
  INFO(bad.out << bad.err);
  CHECK(bad.exit_code == 1);
  CHECK((bad.out + bad.err).find("success-rate") != std::string::npos);

  r = env.rollout("shop");
  INFO(r.dump(2));
  CHECK(r.value("phase", "") == "Degraded");
  CHECK(r.value("aborted", false));
  CHECK(r["weights"].value("stable", 0) == 100);
  CHECK(r["stable"].value("version", "") == "2.0.0");
  CHECK(r.value("message", "").find("success-rate") != std::string::npos);

  // After the abort no new request reaches 3.0.0 (in-flight ones may still finish). That is
  // only worth something if requests kept flowing meanwhile: a stalled load generator would
  // pass it too, so 2.0.0 must have answered a good share of the window's requests (200/s for
  // 1.5 s is 300; at least 50 leaves room for a loaded machine, a stall gives 0).
  std::this_thread::sleep_for(500ms);
  const json before = load.stats();
  const uint64_t bad_before = answered_by(before, "3.0.0");
  const uint64_t good_before = answered_by(before, "2.0.0");
  std::this_thread::sleep_for(1500ms);
  const json stats = load.stop();
  INFO(stats.dump(2));
  CHECK(answered_by(stats, "3.0.0") == bad_before);
  CHECK(bad_before > 0);  // the bad canary did get traffic, so the analysis judged real errors
  CHECK(answered_by(stats, "2.0.0") >= good_before + 50);

  // No request failed at a stable version, and no connection failed at all.
  CHECK(server_errors(stats, "1.0.0") == 0);
  CHECK(server_errors(stats, "2.0.0") == 0);
  CHECK(server_errors(stats, "3.0.0") > 0);
  CHECK(stats.value("transportErrors", -1) == 0);
  CHECK(stats.value("failed", uint64_t{0}) == server_errors(stats, "3.0.0"));

  // The figure the docs quote: first failed request -> last answer from the bad version. The
  // tutorial's 340-379 ms come from the release build; the bound here is what the manifest
  // allows, not a speed target: the analysis measures every 500 ms with failureLimit 0, so the
  // first failing measurement comes at most one interval after enough failures reach the 2 s
  // window, and the abort then moves all traffic within one reconcile. Two intervals for that,
  // plus 2 s for an ASan build on two busy cores, is 3 s; a rollback that waited for a second
  // failed measurement, a slow reconcile, or a route left on the canary would exceed it.
  const int64_t first_failure = stats.value("firstFailureMs", int64_t{0});
  const int64_t last_bad = stats["versions"]["3.0.0"].value("lastMs", int64_t{0});
  const int64_t rollback_ms = last_bad - first_failure;
  WARN(fmt::format("canary rollback: first failed request -> last answer from 3.0.0: {} ms; "
                   "requests {} (failed {}, all at 3.0.0)",
                   rollback_ms, stats.value("requests", 0), stats.value("failed", 0)));
  CHECK(first_failure > 0);
  CHECK(rollback_ms >= 0);
  CHECK(rollback_ms <= 3000);

  // Drift: Git says 3.0.0, 2.0.0 serves. The rollout object, `get` and `sync` say OutOfSync.
  CHECK(r["sync"].value("status", "") == "OutOfSync");
  CHECK(r["sync"].value("gitRevision", "") == sha3);
  CHECK(r["sync"].value("runningRevision", "") == sha2);
  CHECK(r["undo"] == json({{"toRevision", 2}, {"version", "2.0.0"}}));
  auto shown = env.cli({"get", "shop"});
  INFO(shown.out << shown.err);
  CHECK(shown.out.find("Sync:      OutOfSync (revision 3 (3.0.0) aborted") != std::string::npos);
  CHECK(shown.out.find("Undo:      to revision 2 (2.0.0)") != std::string::npos);

  // Undo after the abort stays on 2.0.0 (the revision before the current one) and ends the
  // aborted update; it never goes further back to 1.0.0. What runs still differs from Git.
  auto undo = env.cli({"undo", "shop"});
  INFO(undo.out << undo.err);
  REQUIRE(undo.exit_code == 0);
  CHECK(undo.out.find("undo accepted: going to revision 2 (2.0.0)") != std::string::npos);
  r = env.wait_rollout(
      "shop", [](const json& x) { return x.value("phase", "") == "Healthy"; }, 30s);
  INFO(r.dump(2));
  CHECK(r.value("aborted", true) == false);
  CHECK(r["desired"].value("revision", 0) == 2);
  CHECK(r["stable"].value("version", "") == "2.0.0");
  CHECK(r["sync"].value("status", "") == "OutOfSync");
  CHECK(r["sync"].value("gitVersion", "") == "3.0.0");
  CHECK(r["sync"].value("runningVersion", "") == "2.0.0");
  CHECK(r["sync"].value("reason", "").find("undo to revision 2 (2.0.0) by") != std::string::npos);
  CHECK(r["undo"] == json({{"toRevision", 1}, {"version", "1.0.0"}}));
  shown = env.cli({"get", "shop"});
  INFO(shown.out << shown.err);
  CHECK(shown.out.find("Sync:      OutOfSync (undo to revision 2 (2.0.0) by") != std::string::npos);
  CHECK(shown.out.find("Git says 3.0.0 at " + sha3.substr(0, 7)) != std::string::npos);
  auto table = env.cli({"get"});
  INFO(table.out);
  CHECK(table.out.find("SYNC") != std::string::npos);
  CHECK(table.out.find("OutOfSync") != std::string::npos);
  // `sync` applies Git's head, which leaves this service alone: applied, and still OutOfSync.
  auto synced = env.cli({"sync", "-o", "json"});
  INFO(synced.out << synced.err);
  REQUIRE(synced.exit_code == 0);
  CHECK(json::parse(synced.out)["rollouts"]["shop"].value("status", "") == "OutOfSync");
  auto status = env.cli({"status", "shop"});
  INFO(status.out << status.err);
  CHECK(status.exit_code == 0);  // Healthy: the drift is reported, not a failure
  CHECK(status.out.find("OutOfSync") != std::string::npos);

  // Revision 2's instances were spawned as canaries and promoted, keeping their processes: no
  // role in their env (it would still say canary), and their role file says stable, as the
  // controller does.
  int promoted = 0;
  for (const auto& [id, pid] : env.instance_pids()) {
    const auto vars = environment_of(pid);
    INFO(id);
    CHECK(vars.count("SLUICE_ROLE") == 0);
    if (vars.count("SLUICE_REVISION") == 0 || vars.at("SLUICE_REVISION") != "2") continue;
    REQUIRE(vars.count("SLUICE_ROLE_FILE") == 1);
    CHECK(vars.at("SLUICE_ROLE_FILE").rfind("/", 0) == 0);
    CHECK(file_text(vars.at("SLUICE_ROLE_FILE")) == "stable\n");
    ++promoted;
  }
  CHECK(promoted == 2);
}

TEST_CASE("SIGKILL of sluice serve at five points of a canary: it resumes, same pids",
          "[e2e][crash]") {
  E2eEnv env;
  // Each new instance is unready for its first 2 s: the scale that creates the canary is still
  // under way when the controller is killed at point 1.
  RolloutSpec spec{"1.0.0", 0, free_loopback_port(),
                   "[{setWeight: 25}, {pause: {}}, {setWeight: 50}, {pause: {}}]", 2};
  env.write("shop.yaml", orders_api_manifest(env, spec));
  const std::string sha1 = env.commit("shop 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  auto first = env.cli({"status", "shop", "--wait", "--revision", sha1, "--timeout", "60s"});
  REQUIRE(first.exit_code == 0);
  const auto stable_pids = env.instance_pids();
  REQUIRE(stable_pids.size() == 2);

  spec.version = "2.0.0";
  env.write("shop.yaml", orders_api_manifest(env, spec));
  const std::string sha2 = env.commit("shop 2.0.0");
  auto at_step = [&](int step) {
    return [step, &sha2](const json& r) {
      return r.value("phase", "") == "Paused" && r.value("currentStepIndex", -1) == step &&
             r["desired"].value("commit", "").rfind(sha2.substr(0, 12), 0) == 0 &&
             !r["canary"].is_null() && r["canary"].value("ready", 0) >= 1;
    };
  };
  auto restart = [&](const char* point) {
    INFO(point);
    const auto pids_before = env.instance_pids();
    env.kill_serve(SIGKILL);
    // The instances outlive the controller.
    CHECK(env.instance_pids() == pids_before);
    std::string reason;
    REQUIRE(env.start_serve(reason));
    INFO(reason);
    return pids_before;
  };
  // After a restart every instance that lived before it is still the same process: adopted,
  // neither restarted nor duplicated. `extra` instances may have been started since (a scale the
  // kill interrupted before its spawn).
  auto same_pids = [&](const std::map<std::string, pid_t>& before, size_t extra) {
    const auto now = env.instance_pids();
    for (const auto& [id, pid] : before) {
      INFO(id);
      CHECK(now.count(id) == 1);
      if (now.count(id)) CHECK(now.at(id) == pid);
    }
    CHECK(now.size() <= before.size() + extra);
    return now;
  };

  // Point 1: inside the scale that creates the canary: its instance exists and is not ready yet.
  bool held = false;
  json r = env.wait_rollout(
      "shop",
      [&](const json& ro) {
        return ro["desired"].value("commit", "").rfind(sha2.substr(0, 12), 0) == 0 &&
               !ro["canary"].is_null() && ro["canary"].value("replicas", 0) >= 1 &&
               ro["canary"].value("ready", 0) == 0;
      },
      30s, &held);
  INFO(r.dump(2));
  REQUIRE(held);
  auto pids = restart("inside the canary's scale");
  r = env.wait_rollout("shop", at_step(1), 60s, &held);
  INFO(r.dump(2));
  REQUIRE(held);
  CHECK(r["weights"].value("canary", -1) == 25);
  // The canary that was starting is the one that became ready: 2 stable + 1 canary, same pids.
  pids = same_pids(pids, 0);
  CHECK(pids.size() == 3);
  for (const auto& [id, pid] : stable_pids) CHECK(pids.count(id) == 1);

  // Point 2: paused at 25%. After the restart it is still paused there with the same pids.
  pids = restart("paused at 25%");
  r = env.wait_rollout("shop", at_step(1), 30s, &held);
  REQUIRE(held);
  CHECK(r["weights"].value("canary", -1) == 25);
  pids = same_pids(pids, 0);

  // Point 3: inside a weight change: killed as soon as the promote is acknowledged, so the
  // crash lands between the recorded verb and the route to 50% (or just after it).
  REQUIRE(env.cli({"promote", "shop"}).exit_code == 0);
  pids = restart("right after promote, during the weight change to 50%");
  r = env.wait_rollout("shop", at_step(3), 60s, &held);
  INFO(r.dump(2));
  REQUIRE(held);
  CHECK(r["weights"].value("canary", -1) == 50);
  pids = same_pids(pids, 0);

  // Point 4: paused at 50%.
  pids = restart("paused at 50%");
  r = env.wait_rollout("shop", at_step(3), 30s, &held);
  REQUIRE(held);
  CHECK(r["weights"].value("canary", -1) == 50);
  pids = same_pids(pids, 0);

  // Point 5: inside the full promotion, which scales the canary up to 2 and the stable down.
  REQUIRE(env.cli({"promote", "shop"}).exit_code == 0);
  pids = restart("right after the last promote, during the promotion's scaling");
  // It finishes the same way it would have: promoted to 2.0.0 at full size.
  auto done = env.cli({"status", "shop", "--wait", "--revision", sha2, "--timeout", "60s"});
  INFO(done.out << done.err);
  CHECK(done.exit_code == 0);
  r = env.rollout("shop");
  CHECK(r["stable"].value("version", "") == "2.0.0");
  CHECK(r["weights"].value("stable", 0) == 100);
  // The canary instance that lived through every crash is now part of the stable set of 2, and
  // the 1.0.0 instances are stopped (after scaleDownDelaySeconds).
  CHECK(poll_until(
      [&] {
        for (const auto& [id, pid] : env.instance_pids())
          if (stable_pids.count(id)) return false;
        return true;
      },
      15s));
  const auto final_pids = env.instance_pids();
  CHECK(final_pids.size() == 2);
  bool canary_kept = false;
  for (const auto& [id, pid] : final_pids) {
    if (pids.count(id) && pids.at(id) == pid && !stable_pids.count(id)) canary_kept = true;
  }
  CHECK(canary_kept);

  // The recorded decisions survived the crashes: the history shows both revisions.
  auto history = env.cli({"history", "shop", "-o", "json"});
  REQUIRE(history.exit_code == 0);
  CHECK(history.out.find(sha2.substr(0, 12)) != std::string::npos);
}
