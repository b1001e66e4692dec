// Gate webhooks in the real controller (simulated clock and runtime): a decided call's answer
// becomes the gate's status and evidence, is journaled, survives a crash, and an abort by a
// webhook names it. No WebhookCaller is wired here (ControllerDeps::webhooks is null), so every
// call is answered at once with an error: a pre-rollout gate must then abort, and a
// confirm-rollout gate must keep waiting. Real HTTP receivers are in
// tests/e2e/webhooks/webhooks_e2e_test.cc.
#include <catch2/catch.hpp>

#include "tests/unit/controller/harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using nlohmann::json;

namespace {

manifests::Rollout canary(const std::string& version, std::vector<manifests::Webhook> hooks) {
  manifests::CanaryStrategy c;
  c.steps = {manifests::SetWeightStep{50}, manifests::PauseStep{Duration(1'000)}};
  c.traffic_routing = manifests::TrafficRouting{true, {}};
  auto r = make_rollout("shop", version, 2, c);
  r.spec.webhooks = std::move(hooks);
  return r;
}

manifests::Webhook hook(const std::string& name, const std::string& type) {
  manifests::Webhook w;
  w.name = name;
  w.type = type;
  w.url = "http://127.0.0.1:1/hook?token=s3cret";
  w.interval = Duration(1'000);
  return w;
}

}  // namespace

TEST_CASE("a pre-rollout call without an answer aborts, and its evidence survives a crash",
          "[controller][webhooks]") {
  Harness h;
  h.apply({canary("1", {hook("smoke", "pre-rollout")})});
  h.run_for(Duration(5'000));
  REQUIRE(h.rollout("shop").value("phase", "") == "Healthy");
  CHECK(h.rollout("shop")["webhookCalls"].empty());  // the first revision runs no gates

  h.apply({canary("2", {hook("smoke", "pre-rollout")})});
  h.run_for(Duration(5'000));
  json r = h.rollout("shop");
  INFO(r.dump(2));
  REQUIRE(r.value("aborted", false));
  CHECK(r.value("message", "").find("pre-rollout webhook smoke failed: no webhook caller") !=
        std::string::npos);
  REQUIRE(r["webhookCalls"].size() == 1);
  const json call = r["webhookCalls"][0];
  CHECK(call.value("name", "") == "smoke");
  CHECK(call.value("type", "") == "pre-rollout");
  CHECK(call.value("revision", 0) == 2);
  CHECK(call.value("status", -1) == 0);
  CHECK_FALSE(call.value("ok", true));
  CHECK(r.dump().find("s3cret") == std::string::npos);
  // The abort's event carries the call as evidence.
  bool found = false;
  for (const auto& e : h.controller->events()) {
    if (e.value("reason", "") != "WebhookFailed") continue;
    found = true;
    CHECK(e["evidence"]["webhook"].value("name", "") == "smoke");
    CHECK(e["evidence"]["webhook"]["calls"].size() == 1);
    CHECK(e.dump().find("s3cret") == std::string::npos);
  }
  CHECK(found);

  const json before = h.controller->snapshot();
  REQUIRE(h.crash_and_recover().is_ok());
  CHECK(h.controller->snapshot()["rollouts"] == before["rollouts"]);
  r = h.rollout("shop");
  CHECK(r["webhookCalls"].size() == 1);
}

TEST_CASE("a confirm-rollout gate with no answer keeps the rollout Paused and polls it",
          "[controller][webhooks]") {
  Harness h;
  h.apply({canary("1", {hook("ticket", "confirm-rollout")})});
  h.run_for(Duration(5'000));
  h.apply({canary("2", {hook("ticket", "confirm-rollout")})});
  h.run_for(Duration(5'500));
  const json r = h.rollout("shop");
  INFO(r.dump(2));
  CHECK(r.value("phase", "") == "Paused");
  CHECK(r.value("message", "").find("confirm-rollout webhook ticket") != std::string::npos);
  CHECK_FALSE(r.value("aborted", true));
  // Polled once per interval (1 s) from the answer before: 5 or 6 calls in 5.5 s.
  CHECK(r["webhookCalls"].size() >= 4);
  CHECK(r["webhookCalls"].size() <= 7);
  REQUIRE(r["webhooks"].size() == 1);
  CHECK(r["webhooks"][0]["gate"].value("failed", 0) == static_cast<int>(r["webhookCalls"].size()));
  for (const auto& i : r["instances"]) CHECK(i.value("revision", 0) == 1);
}
