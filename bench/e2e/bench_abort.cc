// bench_abort: abort to 100% stable, end to end (issue 22, part 4). The real release
// `sluice serve` on a Git repository in a temp dir runs orders-api by canary (2 stable, 2 canary
// instances of the local process runtime) behind the built-in router, which runs in its own
// `sluice router` process. A client sends steady paced load through the front door and records
// which version answered each request (orders-api's X-Version header). With the canary at its
// setWeight step (then an indefinite pause), the bench aborts it, again and again:
//   verb:      POST /api/v1/rollouts/shop/abort with a deployer's bearer token; timed from just
//              before the request is written.
//   analysis:  the background analysis' `web` metric reads a verdict endpoint that the bench
//              serves; the bench flips it to failing and times from the moment the first failing
//              answer was written to the provider (the analysis interval before it is not counted:
//              the clock starts at the verdict).
// The clock stops at the first response after which only stable answers (see
// VersionProbe::first_unmarked_only). Between aborts the bench heals the verdict and retries the
// canary (POST retry) and waits until canary answers come back.
//   peer:      the same weight switch written straight to the router process (`apply` on
//              router.sock, the request serve's RemoteRouter sends), with no controller, API,
//              journal or analysis in the way: the floor. The ratio shows what the controller adds.
// Also printed: the verb's answer time (its journal record made durable), and the order
// contract (the abort's record durable before the weight) is tested in
// tests/unit/controller/abort_order_test.cc, not here.
//
// Usage: bench_abort [--aborts N] (per trigger; default 100, so 200 aborts). Loopback only;
// bounded (every wait has a deadline; about 2-4 minutes).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/unix_socket.h"
#include "bench/support/e2e_probe.h"
#include "tests/e2e/rollouts/e2e_env.h"

namespace {

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using sluice::bench::http_call;
using sluice::bench::percentile;
using sluice::bench::steady_ns;
using sluice::bench::VerdictServer;
using sluice::bench::VersionProbe;

constexpr int kRate = 2000;  // requests per second through the front door
constexpr int kConnections = 4;
constexpr int kCanaryWeight = 90;  // high, so the last canary answer locates the switch closely
constexpr int64_t kQuietNs = 100'000'000;            // only stable this long: the switch is done
constexpr int64_t kSwitchTimeoutNs = 5'000'000'000;  // an abort that takes longer is a failure
const std::string kToken = "bench-abort-token-0123456789abcdef";
const std::string kStable = "1.0.0";
const std::string kCanary = "2.0.0";

std::string manifest(const E2eEnv& env, const std::string& version, int front,
                     unsigned short verdict_port) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: shop}}
spec:
  replicas: 2
  template:
    version: "{0}"
    command: ["bin/orders-api", "--port", "$(PORT)", "--version", "{0}"]
    env: [{{name: SLUICE_E2E_MARKER, value: "{1}"}}]
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 5
  service: {{listen: "127.0.0.1:{2}", targetPort: http}}
  strategy:
    canary:
      maxSurge: 1
      maxUnavailable: 0
      trafficRouting: {{builtin: {{}}}}
      analysis:
        templates: [{{templateName: verdict}}]
        startingStep: 0
      steps: [{{setWeight: {4}}}, {{pause: {{}}}}]
      abortScaleDownDelaySeconds: 3600
---
apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {{name: verdict}}
spec:
  metrics:
    - name: verdict
      interval: 50ms
      failureLimit: 0
      successCondition: result == 1
      provider:
        web: {{url: "http://127.0.0.1:{3}/verdict", jsonPath: "$.healthy", timeout: 2s}}
)YAML",
                     version, env.marker_value(), front, verdict_port, kCanaryWeight);
}

struct Series {
  std::vector<double> ms;      // trigger -> first response after which only stable answers
  std::vector<double> ack_ms;  // verb only: request -> its answer (record made durable)
  int failed = 0;
  std::string why;  // the first failure
  void fail(const std::string& reason) {
    ++failed;
    if (why.empty()) why = reason;
  }
};

double ms_between(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

bool verb(const E2eEnv& env, const std::string& name, int64_t* answered_ns = nullptr) {
  auto answer = http_call(static_cast<unsigned short>(env.api_port()), "POST",
                          "/api/v1/rollouts/shop/" + name, {"Authorization: Bearer " + kToken});
  if (answered_ns) *answered_ns = steady_ns();
  return answer.status == 200;
}

// GET the rollout object with the bench's token (serve runs with --auth-file); null when not 200.
json rollout(const E2eEnv& env) {
  auto answer = http_call(static_cast<unsigned short>(env.api_port()), "GET",
                          "/api/v1/rollouts/shop", {"Authorization: Bearer " + kToken});
  if (answer.status != 200) return nullptr;
  return json::parse(answer.body, nullptr, false);
}

// Polls the rollout until `pred` holds (bounded); the last object seen goes to `last`.
bool wait_rollout(const E2eEnv& env, const std::function<bool(const json&)>& pred,
                  std::chrono::milliseconds timeout, json* last = nullptr) {
  json seen;
  const bool held = poll_until(
      [&] {
        seen = rollout(env);
        return seen.is_object() && pred(seen);
      },
      timeout);
  if (last) *last = seen;
  return held;
}

// Back to the canary at its weight: healthy verdict, retry, canary answers again (bounded).
bool canary_serving(E2eEnv& env, VersionProbe& probe, std::string& why) {
  json r;
  const bool held = wait_rollout(
      env,
      [](const json& o) {
        return o.value("phase", "") == "Paused" && o.value("currentStepIndex", -1) == 1 &&
               !o.value("aborted", false);
      },
      10s, &r);
  if (!held) {
    why = "canary not back at its pause: " + r.dump().substr(0, 400);
    return false;
  }
  const int64_t since = steady_ns();
  if (!poll_until([&] { return probe.marked_since(since); }, 5s)) {
    why = "no canary answers after the retry";
    return false;
  }
  return true;
}

bool aborted(E2eEnv& env) {
  return wait_rollout(
      env, [](const json& o) { return o.value("aborted", false); }, 10s);
}

// The floor: the router process told directly, as RemoteRouter tells it.
Series run_peer(E2eEnv& env, VersionProbe& probe, int n) {
  Series s;
  const std::string sock = env.state_dir() + "/router/router.sock";
  auto exchange = [&](const json& request) -> json {
    json req = request;
    req["protocol"] = 1;
    auto raw =
        sluice::unix_socket_exchange(sock, req.dump() + "\n", sluice::Duration(5000), "router");
    if (!raw.is_ok()) return json{{"ok", false}, {"error", raw.status().message()}};
    return json::parse(*raw, nullptr, false);
  };
  json canary_table;
  for (const auto& t : exchange({{"op", "tables"}}).value("tables", json::array())) {
    if (t.value("rollout", "") == "shop") canary_table = t;
  }
  if (canary_table.is_null()) {
    s.fail("the router has no table for shop");
    return s;
  }
  json stable_table = canary_table;
  for (auto& r : stable_table["revisions"]) {
    r["weightPercent"] = r.value("role", "") == "stable" ? 100 : 0;
  }
  for (int i = 0; i < n; ++i) {
    probe.clear();
    const int64_t since = steady_ns();
    if (!poll_until([&] { return probe.marked_since(since); }, 5s)) {
      s.fail("no canary answers before a switch");
      break;
    }
    const int64_t trigger = steady_ns();
    if (!exchange({{"op", "apply"}, {"table", stable_table}}).value("ok", false)) {
      s.fail("router refused the stable table");
      break;
    }
    auto end = probe.first_unmarked_only(trigger, kQuietNs, kSwitchTimeoutNs);
    if (end) {
      s.ms.push_back(ms_between(trigger, *end));
    } else {
      s.fail("canary answers continued after the switch");
    }
    if (!exchange({{"op", "apply"}, {"table", canary_table}}).value("ok", false)) {
      s.fail("router refused the canary table");
      break;
    }
  }
  return s;
}

Series run_aborts(E2eEnv& env, VersionProbe& probe, VerdictServer& verdict, bool by_verb, int n) {
  Series s;
  for (int i = 0; i < n && s.failed < 5; ++i) {
    std::string why;
    if (!canary_serving(env, probe, why)) {
      s.fail(why);
      break;
    }
    probe.clear();
    int64_t trigger = 0;
    if (by_verb) {
      trigger = steady_ns();
      int64_t answered = 0;
      if (!verb(env, "abort", &answered)) {
        s.fail("abort verb refused");
        continue;
      }
      s.ack_ms.push_back(ms_between(trigger, answered));
    } else {
      verdict.fail();
      if (!poll_until([&] { return verdict.first_failing_answer_ns() != 0; }, 5s)) {
        s.fail("the analysis never asked for its verdict");
        verdict.heal();
        break;
      }
      trigger = verdict.first_failing_answer_ns();
    }
    auto end = probe.first_unmarked_only(trigger, kQuietNs, kSwitchTimeoutNs);
    if (end) {
      s.ms.push_back(ms_between(trigger, *end));
    } else {
      s.fail("canary answers continued for 5 s after the trigger");
    }
    verdict.heal();
    if (!aborted(env)) {
      s.fail("the rollout did not report the abort");
      break;
    }
    if (!verb(env, "retry")) {
      s.fail("retry verb refused");
      break;
    }
  }
  return s;
}

void print_series(const char* name, const Series& s) {
  if (s.ms.empty()) {
    std::printf("  %-34s no measurement: %s\n", name, s.why.c_str());
    return;
  }
  std::printf("  %-34s n=%zu  median %6.2f ms  p99 %6.2f ms  max %6.2f ms%s\n", name, s.ms.size(),
              percentile(s.ms, 50), percentile(s.ms, 99), percentile(s.ms, 100),
              s.failed ? fmt::format("  ({} failed: {})", s.failed, s.why).c_str() : "");
}

}  // namespace

int main(int argc, char** argv) {
  int aborts = 100;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--aborts") == 0) aborts = std::max(1, std::atoi(argv[i + 1]));
  }
  aborts = std::min(aborts, 1000);

  E2eEnv env;
  VerdictServer verdict;
  const int front = free_loopback_port();
  const std::string auth_file = env.dir() + "/auth";
  std::ofstream(auth_file) << kToken << " deployer bench\n";
  std::filesystem::permissions(
      auth_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  env.set_serve_args({"--auth-file", auth_file});
  env.write("shop.yaml", manifest(env, kStable, front, verdict.port()));
  const std::string stable_sha = env.commit("shop " + kStable);
  std::string why;
  if (!env.start_serve(why)) {
    std::printf("bench_abort did not run: %s\n", why.c_str());
    return 1;
  }
  json last;
  if (!wait_rollout(
          env,
          [&](const json& o) {
            return o.value("phase", "") == "Healthy" &&
                   o["desired"].value("commit", "") == stable_sha;
          },
          60s, &last)) {
    std::printf("bench_abort did not run: stable not healthy: %s\n", last.dump().c_str());
    return 1;
  }
  VersionProbe probe(static_cast<unsigned short>(front), kRate, kConnections, kCanary);
  env.write("shop.yaml", manifest(env, kCanary, front, verdict.port()));
  env.commit("shop " + kCanary);
  // serve polls every second (E2eEnv); the canary scales up and reaches its pause.
  if (!canary_serving(env, probe, why)) {
    std::printf("bench_abort did not run: %s\n", why.c_str());
    return 1;
  }

  const auto started = std::chrono::steady_clock::now();
  const Series peer = run_peer(env, probe, aborts);
  const Series by_verb = run_aborts(env, probe, verdict, true, aborts);
  const Series by_analysis = run_aborts(env, probe, verdict, false, aborts);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const int64_t answered = probe.answered();
  const int64_t failures = probe.failures();

  std::printf(
      "abort to 100%% stable, end to end: sluice serve (release) + `sluice router` process + "
      "orders-api (2 stable, 2 canary instances, local process runtime); canary at setWeight %d "
      "(then a pause); load %d req/s over %d keep-alive connections through the front door "
      "(%lld answered, %lld failed, %.0f s)\n",
      kCanaryWeight, kRate, kConnections, static_cast<long long>(answered),
      static_cast<long long>(failures), seconds);
  std::printf(
      "  measured to the first response after which only stable answers; one request every "
      "%.2f ms, %d%% of them to the canary before the switch, so the last canary answer locates "
      "the switch to about a request interval\n",
      1000.0 / kRate, kCanaryWeight);
  print_series("verb (POST abort, bearer token)", by_verb);
  if (!by_verb.ack_ms.empty()) {
    std::printf("  %-34s median %6.2f ms  p99 %6.2f ms (its journal record made durable)\n",
                "  verb answered", percentile(by_verb.ack_ms, 50), percentile(by_verb.ack_ms, 99));
  }
  print_series("analysis verdict (web metric)", by_analysis);
  print_series("peer: router switch alone", peer);
  std::printf(
      "  peer: the same table change (canary 0%%, stable 100%%) written straight to the router "
      "process on router.sock, no controller/API/journal/analysis: the floor of any controller "
      "that drives this router (Argo Rollouts and Flagger take an analysis interval, then a mesh "
      "or ingress update: seconds to minutes)\n");
  if (by_verb.ms.empty() || by_analysis.ms.empty() || peer.ms.empty()) return 1;
  const double peer_median = std::max(percentile(peer.ms, 50), 1e-3);
  std::printf("  ratio to the peer (median): verb %.1fx, analysis %.1fx\n",
              percentile(by_verb.ms, 50) / peer_median,
              percentile(by_analysis.ms, 50) / peer_median);
  std::vector<double> all = by_verb.ms;
  all.insert(all.end(), by_analysis.ms.begin(), by_analysis.ms.end());
  const bool met = percentile(all, 99) <= 5.0 && by_verb.failed == 0 && by_analysis.failed == 0;
  std::printf("goal (p99 <= 5 ms over %zu aborts): %s (p99 %.2f ms)\n", all.size(),
              met ? "met" : "NOT met", percentile(all, 99));
  return met ? 0 : 1;
}
