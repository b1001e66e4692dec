// End to end: `sluice serve --config` with notification targets (real HTTP receivers on
// loopback) while real canaries of orders-api complete, pause and are aborted by analysis. Each
// trigger arrives once per transition with the recorded event; the Slack body names what it
// should; the HMAC verifies; the rollout filter holds; a hanging target does not delay the abort
// of a bad canary; no URL or secret reaches serve's log, the events or the API.
#include <signal.h>

#include <catch2/catch.hpp>

#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "notify/message.h"
#include "tests/e2e/rollouts/e2e_env.h"
#include "tests/support/http_receiver/http_receiver.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const char* kAllTriggers =
    "[on-rollout-updated, on-rollout-step-completed, on-rollout-paused, on-rollout-completed, "
    "on-rollout-aborted, on-analysis-run-running, on-analysis-run-failed, on-analysis-run-error, "
    "on-scaling-replica-set]";

std::string manifest(const E2eEnv& env, const std::string& version, double error_rate,
                     int front_port) {
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
      analysis:
        templates: [{{templateName: success-rate}}]
        startingStep: 0
      steps: [{{setWeight: 50}}, {{pause: {{duration: 1s}}}}]
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
                     version, error_rate, env.marker_value(), front_port);
}

// Milliseconds since the epoch of an event's RFC 3339 time ("2026-12-07T21:00:00.123Z").
int64_t unix_ms(const std::string& rfc3339) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(rfc3339.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return int64_t{timegm(&tm)} * 1000 + ms;
}

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The events of revision `revision` of shop, by id.
std::map<uint64_t, json> events_of(E2eEnv& env, int64_t revision) {
  std::map<uint64_t, json> out;
  auto r = http(env.api_port(), "GET", "/api/v1/rollouts/shop/events");
  if (!r.is_ok() || r->status != 200) return out;
  const json page = json::parse(r->body);
  for (const auto& e : page["items"]) {
    if (e.value("revision", int64_t{0}) == revision) out[e["id"].get<uint64_t>()] = e;
  }
  return out;
}

// Time from the revision's RevisionCreated to its abort, from the recorded event times.
int64_t abort_ms(const std::map<uint64_t, json>& events) {
  int64_t created = 0, aborted = 0;
  for (const auto& [id, e] : events) {
    if (e["reason"] == "RevisionCreated") created = unix_ms(e["time"]);
    if (e["to"] == "Degraded" && e["from"] != "Degraded" && aborted == 0)
      aborted = unix_ms(e["time"]);
  }
  return created && aborted ? aborted - created : -1;
}

// Triggers received for `revision`, counted; fails the test on a delivery id seen twice.
std::map<std::string, int> triggers_received(const std::vector<ReceivedRequest>& seen,
                                             int64_t revision) {
  std::map<std::string, int> out;
  std::set<std::string> ids;
  for (const auto& r : seen) {
    CHECK(ids.insert(r.header("x-sluice-delivery")).second);
    const json body = json::parse(r.body);
    if (body["revision"] == revision) ++out[body["trigger"].get<std::string>()];
  }
  return out;
}

}  // namespace

TEST_CASE("notifications: each trigger once per transition, Slack and webhook bodies, a hanging "
          "target does not delay an abort, no secret leaks",
          "[e2e][notify]") {
  E2eEnv env;
  HttpReceiver all;        // every trigger, HMAC-signed
  HttpReceiver chat;       // Slack-compatible: aborted and completed only
  HttpReceiver others;     // filtered to another rollout: never called
  HttpReceiver hanging([](const ReceivedRequest&, size_t) { return ReceiverAnswer{200, true}; });

  const std::string url_token = "urltok-5a1b9c";
  const std::string slack_secret = "slacksecret-77e0d2";
  const std::string hmac_key = "hmac-key-0f3e8a";
  std::ofstream(env.dir() + "/hmac") << hmac_key << "\n";
  std::ofstream(env.dir() + "/slack-url")
      << chat.url("/services/T000/B000/" + slack_secret) << "\n";
  const std::string all_url = all.url("/hooks/all?token=" + url_token);
  auto write_config = [&](bool with_hanging) {
    std::string yaml = fmt::format(R"YAML(api: {{externalUrl: "http://sluice.test:7070/"}}
notifications:
  - name: all
    webhook:
      url: "{0}"
      headers: [{{name: X-Team, value: payments}}]
      secretFile: {1}/hmac
    triggers: {2}
  - name: chat
    slack: {{webhookUrlFile: {1}/slack-url}}
    triggers: [on-rollout-aborted, on-rollout-completed]
  - name: others
    webhook: {{url: "{3}"}}
    triggers: {2}
    rollouts: [not-shop]
)YAML",
                                   all_url, env.dir(), kAllTriggers, others.url("/x"));
    if (with_hanging) {
      yaml += fmt::format("  - name: hangs\n    webhook: {{url: \"{}\"}}\n    triggers: {}\n",
                          hanging.url("/h"), kAllTriggers);
    }
    std::ofstream(env.dir() + "/sluice.yaml") << yaml;
  };
  write_config(false);
  env.set_serve_args({"--config", env.dir() + "/sluice.yaml"});

  const int front = free_loopback_port();
  env.write("shop.yaml", manifest(env, "1.0.0", 0, front));
  const std::string sha1 = env.commit("shop 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  INFO(why);
  auto first = env.cli({"status", "shop", "--wait", "--revision", sha1, "--timeout", "60s"});
  REQUIRE(first.exit_code == 0);
  LoadGenerator load(env.dir(), front, 100, 2);

  // A good canary: updated, analysis running, a weight step (scaling), a pause, completed.
  env.write("shop.yaml", manifest(env, "2.0.0", 0, front));
  const std::string sha2 = env.commit("shop 2.0.0");
  auto good = env.cli({"status", "shop", "--wait", "--revision", sha2, "--timeout", "90s"});
  INFO(good.out << good.err);
  REQUIRE(good.exit_code == 0);

  // A bad canary: aborted by its analysis.
  env.write("shop.yaml", manifest(env, "3.0.0", 0.5, front));
  const std::string sha3 = env.commit("shop 3.0.0 (bad)");
  auto bad = env.cli({"status", "shop", "--wait", "--revision", sha3, "--timeout", "90s"});
  REQUIRE(bad.exit_code == 1);
  const auto events3 = events_of(env, 3);
  const int64_t without_ms = abort_ms(events3);

  // Deliveries are asynchronous: wait for the abort's (bounded).
  auto has = [](const HttpReceiver& r, int64_t revision, const std::string& trigger) {
    for (const auto& q : r.seen()) {
      const json b = json::parse(q.body);
      if (b.value("revision", int64_t{-1}) == revision && b.value("trigger", "") == trigger)
        return true;
    }
    return false;
  };
  auto slack_has = [](const HttpReceiver& r, const std::string& trigger,
                      const std::string& version) {
    for (const auto& q : r.seen()) {
      const std::string text = json::parse(q.body).value("text", "");
      if (text.rfind(trigger, 0) == 0 && text.find(version) != std::string::npos) return true;
    }
    return false;
  };
  REQUIRE(poll_until(
      [&] {
        return has(all, 3, "on-analysis-run-failed") &&
               slack_has(chat, "on-rollout-aborted", "3.0.0");
      },
      10s));

  // Each trigger once per transition, and nothing else.
  const auto seen_all = all.seen();
  const auto rev2 = triggers_received(seen_all, 2);
  CHECK(rev2.at("on-rollout-updated") == 1);
  CHECK(rev2.at("on-analysis-run-running") == 1);
  CHECK(rev2.at("on-rollout-step-completed") == 2);  // setWeight 50, pause 1s
  CHECK(rev2.at("on-rollout-paused") == 1);
  CHECK(rev2.at("on-scaling-replica-set") == 1);  // the setWeight step
  CHECK(rev2.at("on-rollout-completed") == 1);
  CHECK(rev2.count("on-rollout-aborted") == 0);
  const auto rev3 = triggers_received(seen_all, 3);
  CHECK(rev3.at("on-rollout-updated") == 1);
  CHECK(rev3.at("on-rollout-aborted") == 1);
  CHECK(rev3.at("on-analysis-run-failed") == 1);
  CHECK(rev3.count("on-rollout-completed") == 0);
  CHECK(rev3.count("on-analysis-run-error") == 0);

  // Every body carries the recorded event as the API shows it, a dashboard link, and a valid
  // signature; the configured header is sent.
  const auto events2 = events_of(env, 2);
  for (const auto& r : seen_all) {
    const json body = json::parse(r.body);
    CHECK(r.target == "/hooks/all?token=" + url_token);
    CHECK(r.header("x-team") == "payments");
    CHECK(r.header("x-sluice-signature-256") ==
          "sha256=" + sluice::notify::hmac_sha256_hex(hmac_key, r.body));
    CHECK(r.header("x-sluice-delivery") ==
          fmt::format("{}.{}", body["event"]["id"].get<uint64_t>(), body["trigger"].get<std::string>()));
    CHECK(body["dashboard"] == "http://sluice.test:7070/ui/#/rollouts/shop");
    const int64_t revision = body["revision"];
    const auto& known = revision == 2 ? events2 : events3;
    if (revision == 2 || revision == 3) {
      auto it = known.find(body["event"]["id"].get<uint64_t>());
      REQUIRE(it != known.end());
      CHECK(body["event"] == it->second);
      CHECK(body["phase"] == it->second["to"]);
      CHECK(body["commit"] == (revision == 2 ? sha2 : sha3));
    }
  }

  // The Slack target got only its triggers; the abort names the rollout, version, short commit,
  // reason, the measured value and the dashboard.
  bool slack_abort = false;
  for (const auto& r : chat.seen()) {
    const json body = json::parse(r.body);
    const std::string text = body["text"];
    CHECK((text.rfind("on-rollout-aborted", 0) == 0 || text.rfind("on-rollout-completed", 0) == 0));
    if (text.rfind("on-rollout-aborted", 0) == 0 && text.find("3.0.0") != std::string::npos) {
      slack_abort = true;
      CHECK(text.find("shop") != std::string::npos);
      CHECK(text.find("commit " + sha3.substr(0, 7)) != std::string::npos);
      CHECK(text.find("<http://sluice.test:7070/ui/#/rollouts/shop|") != std::string::npos);
      const std::string detail = body["attachments"][0]["text"];
      CHECK(detail.find("AnalysisFailed") != std::string::npos);
      CHECK(detail.find("success-rate=") != std::string::npos);
    }
  }
  CHECK(slack_abort);
  CHECK(others.seen().empty());

  auto metrics = http(env.api_port(), "GET", "/metrics");
  REQUIRE(metrics.is_ok());
  CHECK(metric_value(metrics->body, "sluice_notifications_total",
                     {"target=\"all\"", "trigger=\"on-rollout-aborted\"", "result=\"sent\""}) ==
        1.0);

  // The same abort with a target that never answers: the abort is not delayed by it.
  env.kill_serve(SIGTERM);
  write_config(true);
  REQUIRE(env.start_serve(why));
  env.write("shop.yaml", manifest(env, "4.0.0", 0.5, front));
  const std::string sha4 = env.commit("shop 4.0.0 (bad)");
  auto bad2 = env.cli({"status", "shop", "--wait", "--revision", sha4, "--timeout", "90s"});
  REQUIRE(bad2.exit_code == 1);
  const int64_t with_ms = abort_ms(events_of(env, 4));
  WARN(fmt::format("bad canary, RevisionCreated -> abort: {} ms without a hanging target, {} ms "
                   "with one",
                   without_ms, with_ms));
  CHECK(without_ms > 0);
  CHECK(with_ms > 0);
  CHECK(with_ms < 30'000);  // liveness, not speed: hanging deliveries are never awaited
  CHECK(hanging.seen().size() >= 1);  // it was called and kept hanging
  REQUIRE(poll_until([&] { return has(all, 4, "on-rollout-aborted"); }, 10s));
  load.stop();

  // No URL, token or key anywhere the user can see: serve's logs, events, the API, /metrics.
  std::string visible = file_text(env.dir() + "/serve-1.log") + file_text(env.serve_log_path());
  for (const char* path : {"/api/v1/rollouts", "/api/v1/rollouts/shop",
                           "/api/v1/rollouts/shop/events", "/api/v1/source", "/metrics"}) {
    auto r = http(env.api_port(), "GET", path);
    REQUIRE(r.is_ok());
    visible += r->body;
  }
  env.kill_serve(SIGTERM);
  visible += file_text(env.serve_log_path());  // including the shutdown's drain and drops
  for (const std::string& secret :
       {url_token, slack_secret, hmac_key, std::string("/hooks/all"), std::string("/services/T000")}) {
    INFO(secret);
    CHECK(visible.find(secret) == std::string::npos);
  }
}
