// Gate webhooks as pure decisions: each type's effect on each strategy, driven by a World whose
// "receiver" answers every call decide() asks for with a status chosen per webhook (as the
// controller would write it into RolloutStatus::webhooks).
#include <catch2/catch.hpp>

#include <functional>

#include "tests/unit/strategies/world.h"

using namespace sluice;
using namespace sluice::strategies;
using sluice::strategies::testing::canary_with;
using sluice::strategies::testing::World;
using M = std::map<int64_t, int>;

namespace {

enum class Kind { kRolling, kBasicCanary, kRoutedCanary, kBlueGreen };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kRolling:
      return "rolling";
    case Kind::kBasicCanary:
      return "basic canary";
    case Kind::kRoutedCanary:
      return "routed canary";
    case Kind::kBlueGreen:
      return "blue-green";
  }
  return "?";
}

manifests::RolloutSpec spec_of(Kind kind) {
  manifests::RolloutSpec spec;
  spec.replicas = 2;
  switch (kind) {
    case Kind::kRolling: {
      manifests::RollingUpdateStrategy r;
      r.max_surge = {1, false};
      r.max_unavailable = {0, false};
      spec.strategy = r;
      break;
    }
    case Kind::kBasicCanary:
    case Kind::kRoutedCanary: {
      auto c = canary_with({manifests::SetWeightStep{50}, manifests::PauseStep{Duration(5'000)}});
      c.max_surge = {1, false};
      c.max_unavailable = {0, false};
      if (kind == Kind::kRoutedCanary) c.traffic_routing = manifests::TrafficRouting{true, {}};
      c.scale_down_delay = Duration(0);
      c.abort_scale_down_delay = Duration(0);
      spec.strategy = c;
      break;
    }
    case Kind::kBlueGreen: {
      manifests::BlueGreenStrategy bg;
      bg.scale_down_delay = Duration(0);
      bg.abort_scale_down_delay = Duration(0);
      spec.strategy = bg;
      break;
    }
  }
  return spec;
}

manifests::Webhook hook(const std::string& name, const std::string& type) {
  manifests::Webhook w;
  w.name = name;
  w.type = type;
  w.url = "http://127.0.0.1:1/" + name;
  w.interval = Duration(1'000);
  return w;
}

// The receiver: HTTP status per webhook name (changeable during a test); records every call.
struct Receiver {
  std::map<std::string, int> status;
  std::vector<WebhookCall> calls;  // every call made (one per key and seq)

  void answer(World& w) {
    for (const auto& call : w.last.webhook_calls) {
      WebhookGate& g = w.status.webhooks[call.key];
      if (call.seq <= g.answered) continue;
      calls.push_back(call);
      const int code = status.count(call.name) ? status.at(call.name) : 200;
      g.answered = call.seq;
      g.last_ok = code >= 200 && code < 300;
      if (!g.last_ok) g.failed += 1;
      g.answered_at = w.now;
      g.last = "HTTP " + std::to_string(code);
    }
  }
  int count(const std::string& name) const {
    int n = 0;
    for (const auto& c : calls) n += c.name == name;
    return n;
  }
};

// Steps (deciding, answering, advancing time by `tick`) for `passes` passes.
void run(World& w, Receiver& r, int passes, Duration tick = Duration(500)) {
  for (int i = 0; i < passes; ++i) {
    w.step();
    r.answer(w);
    w.now += tick;
  }
}

World stable_world(manifests::RolloutSpec spec) {
  World w(std::move(spec));
  w.start_revision(1);
  w.settle();
  REQUIRE(w.status.stable_revision == 1);
  w.start_revision(2);
  return w;
}

const Transition* transition(const Decision& d, const std::string& reason) {
  for (const auto& t : d.transitions) {
    if (t.reason == reason) return &t;
  }
  return nullptr;
}
bool has_transition(const Decision& d, const std::string& reason) {
  return transition(d, reason) != nullptr;
}

const std::vector<Kind> kAll = {Kind::kRolling, Kind::kBasicCanary, Kind::kRoutedCanary,
                                Kind::kBlueGreen};

}  // namespace

TEST_CASE("confirm-rollout holds the first step until 2xx, polled, for every strategy",
          "[webhooks]") {
  for (Kind kind : kAll) {
    INFO(kind_name(kind));
    auto spec = spec_of(kind);
    spec.webhooks = {hook("ticket", "confirm-rollout")};
    World w = stable_world(spec);
    Receiver r;
    r.status["ticket"] = 403;
    run(w, r, 10);  // 5 s of simulated time, interval 1 s
    CHECK(w.status.phase == Phase::kPaused);
    CHECK(w.status.message.find("confirm-rollout webhook ticket") != std::string::npos);
    CHECK(w.status.message.find("HTTP 403") != std::string::npos);
    CHECK(w.last.replicas == M{{1, 2}});  // the update has no instances yet
    CHECK(w.last.weights == M{{1, 100}});
    CHECK(r.count("ticket") >= 4);  // polled, once per interval
    CHECK(r.count("ticket") <= 6);
    r.status["ticket"] = 200;
    run(w, r, 60);
    CHECK(w.status.stable_revision == 2);
    CHECK(w.status.phase == Phase::kHealthy);
    // A gate that passed is never called again.
    const int calls = r.count("ticket");
    run(w, r, 10);
    CHECK(r.count("ticket") == calls);
  }
}

TEST_CASE("pre-rollout runs once before the first step: 2xx goes on, non-2xx aborts",
          "[webhooks]") {
  for (Kind kind : kAll) {
    INFO(kind_name(kind));
    auto spec = spec_of(kind);
    spec.webhooks = {hook("smoke", "pre-rollout")};
    {
      World w = stable_world(spec);
      Receiver r;
      w.step();  // asks for the call; nothing answered yet: no instances of the update
      CHECK(w.last.webhook_calls.size() == 1);
      CHECK(w.status.phase == Phase::kProgressing);
      CHECK(w.last.replicas == M{{1, 2}});
      r.answer(w);
      run(w, r, 60);
      CHECK(w.status.stable_revision == 2);
      CHECK(r.count("smoke") == 1);
    }
    {
      World w = stable_world(spec);
      Receiver r;
      r.status["smoke"] = 500;
      w.step();
      r.answer(w);
      w.step();
      CHECK(w.status.aborted);
      const Transition* t = transition(w.last, "WebhookFailed");
      REQUIRE(t != nullptr);
      CHECK(t->webhook_key == "r2.a0.smoke");
      CHECK(w.status.message.find("pre-rollout webhook smoke failed: HTTP 500") !=
            std::string::npos);
      run(w, r, 20);
      CHECK(w.status.stable_revision == 1);
      CHECK(w.last.replicas == M{{1, 2}});
      CHECK(r.count("smoke") == 1);
    }
  }
}

TEST_CASE("rollout webhooks count like a background metric with failureLimit", "[webhooks]") {
  for (Kind kind : kAll) {
    INFO(kind_name(kind));
    auto spec = spec_of(kind);
    auto load = hook("load", "rollout");
    load.failure_limit = 1;
    spec.webhooks = {load};
    {
      World w = stable_world(spec);
      Receiver r;
      run(w, r, 60);
      CHECK(w.status.stable_revision == 2);
      CHECK(r.count("load") >= 1);
    }
    {
      World w = stable_world(spec);
      w.never_ready.insert(2);  // in progress long enough for a second call
      Receiver r;
      r.status["load"] = 500;
      w.step();
      r.answer(w);  // the first failure is tolerated (failureLimit 1)
      w.step();
      CHECK_FALSE(w.status.aborted);
      run(w, r, 8);  // the next call, an interval later, fails too
      CHECK(w.status.aborted);
      CHECK(w.status.message.find("rollout webhook load failed 2 time(s)") != std::string::npos);
      CHECK(w.status.stable_revision == 1);
    }
  }
}

TEST_CASE("the final promotion waits for a pending rollout call and for confirm-promotion",
          "[webhooks]") {
  for (Kind kind : {Kind::kBasicCanary, Kind::kRoutedCanary, Kind::kBlueGreen}) {
    INFO(kind_name(kind));
    auto spec = spec_of(kind);
    spec.webhooks = {hook("release", "confirm-promotion")};
    World w = stable_world(spec);
    Receiver r;
    r.status["release"] = 409;
    run(w, r, 40);
    CHECK(w.status.phase == Phase::kPaused);
    CHECK(w.status.message.find("confirm-promotion webhook release") != std::string::npos);
    CHECK(w.status.stable_revision == 1);
    CHECK(w.last.replicas.count(2) == 1);  // the update runs at its last step's level
    r.status["release"] = 200;
    run(w, r, 40);
    CHECK(w.status.stable_revision == 2);
  }
  // A rollout call in flight when the steps are done: the promotion waits for its answer.
  auto spec = spec_of(Kind::kRoutedCanary);
  spec.webhooks = {hook("load", "rollout")};
  World w = stable_world(spec);
  Receiver r;
  for (int i = 0; i < 40 && w.status.current_step_index < 2; ++i) {
    w.step();
    w.now += Duration(500);
  }  // never answered
  w.step();
  CHECK(w.status.stable_revision == 1);
  CHECK(w.status.message.find("waits for the answer of rollout webhook load") !=
        std::string::npos);
  r.answer(w);
  run(w, r, 20);
  CHECK(w.status.stable_revision == 2);
}

TEST_CASE("rollback: a 2xx answer aborts, other answers do nothing", "[webhooks]") {
  for (Kind kind : kAll) {
    INFO(kind_name(kind));
    auto spec = spec_of(kind);
    spec.webhooks = {hook("big-red-button", "rollback")};
    World w = stable_world(spec);
    w.never_ready.insert(2);  // the update stays in progress for as long as the test polls
    Receiver r;
    r.status["big-red-button"] = 404;
    w.step();
    r.answer(w);
    w.step();
    CHECK_FALSE(w.status.aborted);
    r.status["big-red-button"] = 200;
    w.now += Duration(1'000);
    w.step();
    r.answer(w);
    w.step();
    CHECK(w.status.aborted);
    CHECK(has_transition(w.last, "WebhookRollback"));
    CHECK(w.status.message.find("rollback webhook big-red-button") != std::string::npos);
  }
}

TEST_CASE("post-rollout runs once after completion or abort and changes no verdict",
          "[webhooks]") {
  for (Kind kind : kAll) {
    INFO(kind_name(kind));
    auto spec = spec_of(kind);
    spec.webhooks = {hook("report", "post-rollout")};
    {
      World w = stable_world(spec);
      Receiver r;
      r.status["report"] = 500;
      run(w, r, 60);
      CHECK(w.status.stable_revision == 2);
      CHECK(w.status.phase == Phase::kHealthy);
      CHECK(r.count("report") == 1);
      REQUIRE(r.calls.size() == 1);
      CHECK(r.calls[0].revision == 2);
    }
    {
      auto with_gate = spec;
      with_gate.webhooks.push_back(hook("smoke", "pre-rollout"));
      World w = stable_world(with_gate);
      Receiver r;
      r.status["smoke"] = 500;
      run(w, r, 20);
      CHECK(w.status.aborted);
      CHECK(r.count("report") == 1);
      CHECK(w.status.phase == Phase::kDegraded);
    }
  }
}

TEST_CASE("gates are skipped on a fast track, and a passed gate survives a restart",
          "[webhooks]") {
  auto spec = spec_of(Kind::kRoutedCanary);
  spec.webhooks = {hook("ticket", "confirm-rollout"), hook("smoke", "pre-rollout"),
                   hook("report", "post-rollout")};
  {
    World w(spec);
    w.start_revision(1);
    w.settle();
    w.start_revision(2, /*fast_track=*/true);
    Receiver r;
    r.status["ticket"] = 403;
    run(w, r, 40);
    CHECK(w.status.stable_revision == 2);
    CHECK(r.count("ticket") == 0);
    CHECK(r.count("smoke") == 0);
    CHECK(r.count("report") == 1);
  }
  {
    World w = stable_world(spec);
    Receiver r;
    run(w, r, 3);  // ticket and smoke passed
    CHECK(r.count("ticket") == 1);
    CHECK(r.count("smoke") == 1);
    // A restart: the status comes back from its JSON, the in-memory receiver is new.
    auto restored = status_from_json(status_to_json(w.status));
    REQUIRE(restored);
    CHECK(*restored == w.status);
    w.status = *restored;
    Receiver after;
    run(w, after, 60);
    CHECK(w.status.stable_revision == 2);
    CHECK(after.count("ticket") == 0);
    CHECK(after.count("smoke") == 0);
  }
}

TEST_CASE("a pending call is asked for again until answered (at least once after a restart)",
          "[webhooks]") {
  auto spec = spec_of(Kind::kRolling);
  spec.webhooks = {hook("ticket", "confirm-rollout")};
  World w = stable_world(spec);
  w.step();
  REQUIRE(w.last.webhook_calls.size() == 1);
  const WebhookCall first = w.last.webhook_calls[0];
  w.now += Duration(60'000);
  w.step();  // no answer yet, however long: the same call (key, seq), not a new one
  REQUIRE(w.last.webhook_calls.size() == 1);
  CHECK(w.last.webhook_calls[0] == first);
  CHECK(w.status.webhooks.at(first.key).requested == 1);
}
