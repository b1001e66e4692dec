// End to end, gate webhooks (spec.webhooks) with the real binaries: `sluice serve` on a real Git
// repository rolls orders-api out, and the webhooks are real HTTP receivers on loopback (an
// in-process server here, and bin/loadtester running Debian's wrk). Each case checks the type's
// effect on the rollout, the POST body, and the evidence on the rollout object.
#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "examples/services/common/http_server.h"
#include "tests/e2e/rollouts/e2e_env.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A webhook receiver: POST /hook/<name> answers the status set for <name> (default 200) after
// an optional delay, and keeps every body it got.
class Receiver {
 public:
  Receiver()
      : server_([this](const sluice::examples::HttpRequest& req) { return handle(req); }) {
    REQUIRE(server_.listen(0).is_ok());
    server_.start();
  }
  ~Receiver() { server_.shutdown(2s); }

  std::string url(const std::string& name) const {
    return fmt::format("http://127.0.0.1:{}/hook/{}", server_.port(), name);
  }
  void answer(const std::string& name, int status, int delay_ms = 0) {
    std::lock_guard lock(mu_);
    answers_[name] = {status, delay_ms};
  }
  std::vector<json> bodies(const std::string& name) {
    std::lock_guard lock(mu_);
    return bodies_[name];
  }

 private:
  sluice::examples::HttpResponse handle(const sluice::examples::HttpRequest& req) {
    const std::string name = req.path.substr(req.path.rfind('/') + 1);
    std::pair<int, int> answer{200, 0};
    {
      std::lock_guard lock(mu_);
      bodies_[name].push_back(json::parse(req.body, nullptr, false));
      if (answers_.count(name)) answer = answers_[name];
    }
    if (answer.second > 0) std::this_thread::sleep_for(std::chrono::milliseconds(answer.second));
    sluice::examples::HttpResponse res;
    res.status = answer.first;
    res.body = fmt::format(R"({{"hook":"{}","status":{}}})", name, answer.first);
    return res;
  }

  std::mutex mu_;
  std::map<std::string, std::pair<int, int>> answers_;
  std::map<std::string, std::vector<json>> bodies_;
  sluice::examples::HttpServer server_;
};

// orders-api by routed canary; `webhooks` is the YAML list under spec.webhooks (indented by 4).
std::string manifest(const E2eEnv& env, const std::string& version, double error_rate,
                     int front_port, const std::string& steps, const std::string& webhooks) {
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
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 5
  service: {{listen: "127.0.0.1:{3}", targetPort: http}}
  strategy:
    canary:
      maxSurge: 1
      maxUnavailable: 0
      trafficRouting: {{builtin: {{}}}}
      steps: {4}
      scaleDownDelaySeconds: 1
      abortScaleDownDelaySeconds: 1
  webhooks:
{5}
)YAML",
                     version, error_rate, env.marker_value(), front_port, steps, webhooks);
}

bool healthy_at(const json& r, const std::string& version) {
  return r.value("phase", "") == "Healthy" && r["stable"].is_object() &&
         r["stable"].value("version", "") == version;
}

std::vector<json> calls_of(const json& r, const std::string& name) {
  std::vector<json> out;
  for (const auto& c : r.value("webhookCalls", json::array())) {
    if (c.value("name", "") == name) out.push_back(c);
  }
  return out;
}

// Version 1.0.0 serving, with the webhooks already in the spec (the first revision runs none).
void start_stable(E2eEnv& env, int front, const std::string& steps, const std::string& hooks) {
  env.write("shop.yaml", manifest(env, "1.0.0", 0, front, steps, hooks));
  env.commit("shop 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  const json r = env.wait_rollout("shop", [](const json& o) { return healthy_at(o, "1.0.0"); }, 30s);
  REQUIRE(healthy_at(r, "1.0.0"));
  for (const auto& c : r.value("webhookCalls", json::array())) {
    CHECK(c.value("type", "") == "event");  // the first revision runs no gate
  }
}

}  // namespace

TEST_CASE("gate webhooks: confirm-rollout holds the canary Paused until 2xx, then every gate "
          "runs once in order and the evidence is on the rollout",
          "[e2e][webhooks]") {
  E2eEnv env;
  Receiver hooks;
  const int front = free_loopback_port();
  const std::string steps = "[{setWeight: 50}, {pause: {duration: 1s}}]";
  const std::string list = fmt::format(
      "    - {{name: ticket, type: confirm-rollout, url: \"{}\", interval: 300ms, timeout: 2s}}\n"
      "    - {{name: smoke, type: pre-rollout, url: \"{}\", timeout: 2s, metadata: {{suite: "
      "quick}}}}\n"
      "    - {{name: load, type: rollout, url: \"{}\", interval: 500ms, timeout: 2s}}\n"
      "    - {{name: release, type: confirm-promotion, url: \"{}\", interval: 300ms}}\n"
      "    - {{name: report, type: post-rollout, url: \"{}\"}}\n"
      "    - {{name: audit, type: event, url: \"{}\"}}",
      hooks.url("ticket"), hooks.url("smoke"), hooks.url("load"), hooks.url("release"),
      hooks.url("report"), hooks.url("audit"));
  start_stable(env, front, steps, list);
  hooks.answer("ticket", 403);

  env.write("shop.yaml", manifest(env, "2.0.0", 0, front, steps, list));
  const std::string sha2 = env.commit("shop 2.0.0");
  json r = env.wait_rollout(
      "shop",
      [](const json& o) {
        return o.value("phase", "") == "Paused" && calls_of(o, "ticket").size() >= 2;
      },
      30s);
  INFO(r.dump(2));
  REQUIRE(r.value("phase", "") == "Paused");
  CHECK(r.value("message", "").find("confirm-rollout webhook ticket") != std::string::npos);
  CHECK(r.value("message", "").find("HTTP 403") != std::string::npos);
  // Nothing of 2.0.0 runs or takes traffic while the gate waits; no later gate has run.
  CHECK(r["weights"].value("canary", -1) == 0);
  for (const auto& i : r["instances"]) CHECK(i.value("version", "") == "1.0.0");
  CHECK(hooks.bodies("smoke").empty());
  const json ticket = calls_of(r, "ticket").back();
  CHECK(ticket.value("status", 0) == 403);
  CHECK_FALSE(ticket.value("ok", true));
  CHECK(ticket.value("type", "") == "confirm-rollout");
  CHECK(ticket.value("revision", 0) == 2);
  CHECK(ticket.value("body", "").find("\"hook\":\"ticket\"") != std::string::npos);
  // No URL in the rollout object (it may carry a token).
  CHECK(r.dump().find("/hook/ticket") == std::string::npos);

  hooks.answer("ticket", 200);
  r = env.wait_rollout("shop", [](const json& o) { return healthy_at(o, "2.0.0"); }, 30s);
  INFO(r.dump(2));
  REQUIRE(healthy_at(r, "2.0.0"));
  // post-rollout runs after the completion; wait for its answer too.
  r = env.wait_rollout("shop", [](const json& o) { return !calls_of(o, "report").empty(); }, 10s);
  CHECK(hooks.bodies("smoke").size() == 1);
  CHECK(hooks.bodies("report").size() == 1);
  CHECK(hooks.bodies("load").size() >= 1);
  CHECK(hooks.bodies("release").size() == 1);
  const json smoke = hooks.bodies("smoke").at(0);
  CHECK(smoke.value("name", "") == "shop");
  CHECK(smoke.value("namespace", "") == "default");
  CHECK(smoke.value("revision", 0) == 2);
  CHECK(smoke.value("version", "") == "2.0.0");
  CHECK(smoke.value("commit", "") == sha2);
  CHECK(smoke["metadata"].value("suite", "") == "quick");
  CHECK(hooks.bodies("report").at(0).value("phase", "") == "Healthy");
  // Every gate's calls are evidence, each with its answer and duration.
  for (const char* name : {"ticket", "smoke", "load", "release", "report"}) {
    INFO(name);
    const auto calls = calls_of(r, name);
    REQUIRE_FALSE(calls.empty());
    CHECK(calls.back().value("status", 0) == 200);
    CHECK(calls.back().value("ok", false));
    CHECK(calls.back()["durationMs"].is_number());
    CHECK(calls.back()["at"].is_string());
  }
  // The event webhook got the rollout's events (with the event itself), and no event was
  // recorded about its own calls.
  const auto audit = hooks.bodies("audit");
  REQUIRE(audit.size() >= 2);
  bool saw_completed = false;
  for (const auto& b : audit) {
    if (b["event"].value("reason", "") == "RolloutCompleted") saw_completed = true;
    CHECK(b["metadata"].value("eventReason", "") == b["event"].value("reason", ""));
  }
  CHECK(saw_completed);
  auto events = env.cli({"events", "shop", "-o", "json"});
  INFO(events.out << events.err);
  CHECK(events.out.find("audit") == std::string::npos);
}

TEST_CASE("gate webhooks: a pre-rollout webhook that answers too late aborts, with the "
          "timeout as evidence",
          "[e2e][webhooks]") {
  E2eEnv env;
  Receiver hooks;
  const int front = free_loopback_port();
  const std::string steps = "[{setWeight: 50}, {pause: {duration: 1s}}]";
  const std::string list = fmt::format(
      "    - {{name: smoke, type: pre-rollout, url: \"{}\", timeout: 500ms}}\n"
      "    - {{name: report, type: post-rollout, url: \"{}\"}}",
      hooks.url("smoke"), hooks.url("report"));
  start_stable(env, front, steps, list);
  hooks.answer("smoke", 200, /*delay_ms=*/3000);
  hooks.answer("report", 500);

  env.write("shop.yaml", manifest(env, "2.0.0", 0, front, steps, list));
  env.commit("shop 2.0.0");
  const auto started = std::chrono::steady_clock::now();
  json r = env.wait_rollout(
      "shop", [](const json& o) { return o.value("aborted", false) && !calls_of(o, "report").empty(); },
      30s);
  INFO(r.dump(2));
  REQUIRE(r.value("aborted", false));
  CHECK(r.value("phase", "") == "Degraded");
  CHECK(r.value("message", "").find("pre-rollout webhook smoke failed") != std::string::npos);
  CHECK(r.value("message", "").find("timed out after 500ms") != std::string::npos);
  CHECK(r["stable"].value("version", "") == "1.0.0");
  // Bounded: the abort came within the timeout and a reconcile, not after the 3 s answer.
  CHECK(std::chrono::steady_clock::now() - started < 20s);
  const auto smoke = calls_of(r, "smoke");
  REQUIRE(smoke.size() == 1);
  CHECK(smoke[0].value("status", -1) == 0);
  CHECK(smoke[0].value("error", "").find("timed out") != std::string::npos);
  CHECK(smoke[0].value("durationMs", 0) >= 400);
  // post-rollout ran after the abort; its 500 is evidence and changes no verdict.
  const auto report = calls_of(r, "report");
  REQUIRE(report.size() == 1);
  CHECK(report[0].value("status", 0) == 500);
  // The abort's event carries the webhook's calls as evidence.
  auto events = env.cli({"events", "shop", "-o", "json"});
  const json list_json = events.json();
  INFO(events.out << events.err);
  bool found = false;
  for (const auto& e : list_json.value("items", json::array())) {
    if (e.value("reason", "") != "WebhookFailed") continue;
    found = true;
    CHECK(e["evidence"]["webhook"].value("name", "") == "smoke");
    CHECK(e["evidence"]["webhook"]["calls"].size() == 1);
  }
  CHECK(found);
}

TEST_CASE("gate webhooks: a rollback webhook that answers 2xx aborts the canary", "[e2e][webhooks]") {
  E2eEnv env;
  Receiver hooks;
  const int front = free_loopback_port();
  const std::string steps = "[{setWeight: 50}, {pause: {}}]";
  const std::string list = fmt::format(
      "    - {{name: big-red-button, type: rollback, url: \"{}\", interval: 300ms}}",
      hooks.url("big-red-button"));
  start_stable(env, front, steps, list);
  hooks.answer("big-red-button", 404);
  env.write("shop.yaml", manifest(env, "2.0.0", 0, front, steps, list));
  env.commit("shop 2.0.0");
  json r = env.wait_rollout(
      "shop",
      [](const json& o) {
        return o.value("phase", "") == "Paused" && calls_of(o, "big-red-button").size() >= 2;
      },
      30s);
  INFO(r.dump(2));
  REQUIRE(r.value("phase", "") == "Paused");  // 404s: no rollback, the canary waits at its pause
  CHECK(r["weights"].value("canary", 0) == 50);
  hooks.answer("big-red-button", 200);
  r = env.wait_rollout("shop", [](const json& o) { return o.value("aborted", false); }, 10s);
  INFO(r.dump(2));
  REQUIRE(r.value("aborted", false));
  CHECK(r.value("message", "").find("rollback webhook big-red-button") != std::string::npos);
  CHECK(r["weights"].value("stable", 0) == 100);
}

TEST_CASE("the load-test hook: wrk drives load during the canary: a clean canary is promoted, "
          "one that errors under the load is aborted",
          "[e2e][webhooks][loadtester]") {
  E2eEnv env;
  TempDir dir;
  auto loadtester = start_service("loadtester", {}, {}, dir, "loadtester");
  REQUIRE(loadtester.is_ok());
  const int front = free_loopback_port();
  const std::string steps = "[{setWeight: 50}, {pause: {duration: 3s}}]";
  const std::string list = fmt::format(
      "    - name: load-test\n"
      "      type: rollout\n"
      "      url: http://127.0.0.1:{}/run\n"
      "      timeout: 10s\n"
      "      interval: 1s\n"
      "      metadata: {{url: \"http://127.0.0.1:{}/orders\", duration: 1s, connections: \"4\"}}",
      loadtester->port, front);
  start_stable(env, front, steps, list);

  // A good canary: the load runs clean (200) and the canary is promoted.
  env.write("shop.yaml", manifest(env, "2.0.0", 0, front, steps, list));
  env.commit("shop 2.0.0");
  json r = env.wait_rollout("shop", [](const json& o) { return healthy_at(o, "2.0.0"); }, 40s);
  INFO(r.dump(2));
  REQUIRE(healthy_at(r, "2.0.0"));
  auto calls = calls_of(r, "load-test");
  REQUIRE_FALSE(calls.empty());
  const json good = json::parse(calls.back().value("body", ""), nullptr, false);
  CHECK(calls.back().value("status", 0) == 200);
  CHECK(good.value("requests", 0) > 0);  // wrk really sent requests
  CHECK(good.value("non2xx3xx", -1) == 0);

  // A bad canary: half its answers are 500; wrk sees them through the front door (50% of the
  // traffic), the call fails, and the rollout aborts back to 2.0.0.
  env.write("shop.yaml", manifest(env, "3.0.0", 0.5, front, steps, list));
  env.commit("shop 3.0.0 (bad)");
  r = env.wait_rollout("shop", [](const json& o) { return o.value("aborted", false); }, 40s);
  INFO(r.dump(2));
  REQUIRE(r.value("aborted", false));
  CHECK(r.value("message", "").find("rollout webhook load-test failed") != std::string::npos);
  CHECK(r["stable"].value("version", "") == "2.0.0");
  calls = calls_of(r, "load-test");
  const json bad = calls.back();
  CHECK(bad.value("revision", 0) == 3);
  CHECK(bad.value("status", 0) == 500);
  CHECK(bad.value("body", "").find("non-2xx/3xx") != std::string::npos);
  const json bad_body = json::parse(bad.value("body", ""), nullptr, false);
  CHECK(bad_body.value("non2xx3xx", 0) > 0);
}
