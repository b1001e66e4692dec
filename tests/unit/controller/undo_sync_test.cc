// Where undo goes (as `kubectl argo rollouts undo`: the revision before the current one) and the
// rollout object's `undo` and `sync` (Argo CD's Synced/OutOfSync), through the real controller.
#include <catch2/catch.hpp>

#include "controller/control_facade.h"
#include "controller/undo_sync.h"
#include "tests/unit/controller/harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using nlohmann::json;

namespace {

// A canary that waits at an indefinite pause, so an update stays in progress until promoted.
manifests::Rollout orders(const std::string& version) {
  manifests::CanaryStrategy canary;
  canary.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  canary.steps = {manifests::SetWeightStep{50}, manifests::PauseStep{}};
  auto r = make_rollout("orders", version, 2, canary);
  r.spec.rollback_window_revisions = 3;
  return r;
}

// Revision 1 (1.0.0) and revision 2 (2.0.0) completed one after the other (commits c0ffee1, 2).
void two_stable_revisions(Harness& h) {
  h.apply({orders("1.0.0")});
  h.run_for(Duration(5000));
  h.apply({orders("2.0.0")});
  h.run_for(Duration(5000));
  REQUIRE(h.verb("orders", Verb::kPromote, /*full=*/true));
  h.run_for(Duration(10'000));
  REQUIRE(h.rollout("orders")["phase"] == "Healthy");
  REQUIRE(h.rollout("orders")["stable"]["revision"] == 2);
}

// Revision 3 (3.0.0, commit c0ffee3) paused at its first step, stable 2.
void revision_3_paused(Harness& h) {
  two_stable_revisions(h);
  h.apply({orders("3.0.0")});
  h.run_for(Duration(5000));
  REQUIRE(h.rollout("orders")["phase"] == "Paused");
  REQUIRE(h.rollout("orders")["canary"]["revision"] == 3);
}

bool contains(const json& j, const std::string& part) {
  return j.get<std::string>().find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("undo from Healthy goes to the revision before the current one, and drifts from Git",
          "[controller][undo]") {
  Harness h;
  revision_3_paused(h);
  REQUIRE(h.verb("orders", Verb::kPromote, /*full=*/true));
  h.run_for(Duration(10'000));
  json r = h.rollout("orders");
  REQUIRE(r["stable"]["revision"] == 3);
  CHECK(r["undo"] == json({{"toRevision", 2}, {"version", "2.0.0"}}));
  CHECK(r["sync"]["status"] == "Synced");
  CHECK(r["sync"]["gitRevision"] == "c0ffee3");
  CHECK(r["sync"]["runningRevision"] == "c0ffee3");

  auto undone = h.verb("orders", Verb::kUndo);
  REQUIRE(undone);
  h.run_for(Duration(10'000));
  r = h.rollout("orders");
  CHECK(r["phase"] == "Healthy");
  CHECK(r["stable"]["revision"] == 4);
  CHECK(r["stable"]["version"] == "2.0.0");
  CHECK(r["sync"]["status"] == "OutOfSync");
  CHECK(r["sync"]["gitRevision"] == "c0ffee3");
  CHECK(r["sync"]["gitVersion"] == "3.0.0");
  CHECK(r["sync"]["runningRevision"] == "c0ffee2");
  CHECK(r["sync"]["runningVersion"] == "2.0.0");
  CHECK(contains(r["sync"]["reason"], "undo to revision 2 (2.0.0) by tester"));
  CHECK(contains(r["sync"]["reason"], "Git says 3.0.0 at c0ffee3"));
  // Undo again toggles back to revision 3's template (revision 2's equals the current one).
  CHECK(r["undo"] == json({{"toRevision", 3}, {"version", "3.0.0"}}));

  // The drift survives a restart (derived from the persisted state and its undo note).
  const json sync_before = r["sync"];
  REQUIRE(h.crash_and_recover().is_ok());
  h.run_for(Duration(1000));
  CHECK(h.rollout("orders")["sync"] == sync_before);

  // A commit that leaves the template alone keeps it OutOfSync; one that changes it ends it.
  auto more_replicas = orders("3.0.0");
  more_replicas.spec.replicas = 3;
  h.apply({more_replicas});
  h.run_for(Duration(5000));
  CHECK(h.rollout("orders")["sync"] == sync_before);
  auto next = orders("3.1.0");
  next.spec.replicas = 3;
  h.apply({next});
  h.run_for(Duration(2000));
  r = h.rollout("orders");
  CHECK(r["canary"]["revision"] == 5);
  CHECK(r["sync"]["status"] == "Synced");  // rolling out Git's template: Synced, Progressing
  CHECK(r["sync"]["reason"] == "");
  CHECK(r["sync"]["gitRevision"] == "c0ffee5");
  CHECK(r["sync"]["runningRevision"] == "c0ffee2");  // revision 4 serves, made from c0ffee2
}

TEST_CASE("undo after an abort stays on stable and clears the abort, never goes further back",
          "[controller][undo]") {
  Harness h;
  revision_3_paused(h);
  REQUIRE(h.verb("orders", Verb::kAbort));
  h.run_for(Duration(10'000));
  json r = h.rollout("orders");
  REQUIRE(r["aborted"] == true);
  // The operator's abort is in history like one the controller decides.
  CHECK(h.controller->states().at("orders").revision(3)->result == "Aborted");
  CHECK(contains(h.controller->states().at("orders").revision(3)->reason, "tester"));
  CHECK(r["sync"]["status"] == "OutOfSync");
  CHECK(contains(r["sync"]["reason"], "revision 3 (3.0.0) aborted"));
  CHECK(contains(r["sync"]["reason"], "revision 2 (2.0.0) serves"));
  CHECK(r["sync"]["runningVersion"] == "2.0.0");
  CHECK(r["sync"]["gitVersion"] == "3.0.0");
  CHECK(r["undo"] == json({{"toRevision", 2}, {"version", "2.0.0"}}));

  auto undone = h.verb("orders", Verb::kUndo);
  REQUIRE(undone);
  h.run_for(Duration(10'000));
  r = h.rollout("orders");
  CHECK(r["phase"] == "Healthy");
  CHECK(r["aborted"] == false);
  CHECK(r["stable"]["revision"] == 2);
  CHECK(r["stable"]["version"] == "2.0.0");
  CHECK(r["desired"]["revision"] == 2);
  CHECK(r["canary"].is_null());
  CHECK(h.controller->states().at("orders").revisions.size() == 3);  // no revision 4
  CHECK(h.controller->states().at("orders").revision(3)->result == "Aborted");
  CHECK(r["sync"]["status"] == "OutOfSync");
  CHECK(contains(r["sync"]["reason"], "undo to revision 2 (2.0.0) by tester"));
  CHECK(contains(r["sync"]["reason"], "Git says 3.0.0"));
  CHECK(h.router.weight("orders", 2) == 100);
  h.run_for(Duration(30'000));  // abortScaleDownDelay (30 s by default)
  CHECK(h.runtime.ready("orders", 3) == 0);
  bool cancelled = false;
  for (const auto& e : h.controller->events()) cancelled |= e["reason"] == "UpdateCancelled";
  CHECK(cancelled);
  // Healthy on revision 2 now: undo would go to revision 1, the one before it.
  CHECK(r["undo"] == json({{"toRevision", 1}, {"version", "1.0.0"}}));

  // /metrics and the answer of POST /api/v1/sync say it too ("applied" is not "running").
  ControllerFacade facade(*h.controller, h.scheduler);
  h.controller->publish_now();
  const std::string metrics = facade.metrics_text();
  CHECK(metrics.find("sluice_rollout_sync_status{rollout=\"orders\",status=\"OutOfSync\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("sluice_rollout_sync_status{rollout=\"orders\",status=\"Synced\"} 0") !=
        std::string::npos);
  facade.set_source_hooks(SourceHooks{
      [] { return json::object(); },
      [](std::function<void(Result<json>)> done) { done(json{{"commit", "c0ffee9"}}); },
      [](const std::string&) {}});
  std::optional<Result<json>> answer;
  facade.sync([&](Result<json> a) { answer = std::move(a); });
  h.run_for(Duration(10));
  REQUIRE(answer);
  REQUIRE(answer->is_ok());
  CHECK((**answer)["commit"] == "c0ffee9");
  CHECK((**answer)["rollouts"]["orders"]["status"] == "OutOfSync");
  CHECK(contains((**answer)["rollouts"]["orders"]["reason"], "undo to revision 2"));
}

TEST_CASE("undo while an update is in progress cancels it and stays on stable",
          "[controller][undo]") {
  Harness h;
  revision_3_paused(h);
  json r = h.rollout("orders");
  CHECK(r["sync"]["status"] == "Synced");  // rolling out what Git says
  CHECK(r["undo"] == json({{"toRevision", 2}, {"version", "2.0.0"}}));
  REQUIRE(h.verb("orders", Verb::kUndo));
  h.run_for(Duration(10'000));
  r = h.rollout("orders");
  CHECK(r["phase"] == "Healthy");
  CHECK(r["stable"]["revision"] == 2);
  CHECK(r["canary"].is_null());
  CHECK(h.controller->states().at("orders").revision(3)->result == "Superseded");
  CHECK(h.controller->states().at("orders").revisions.size() == 3);
  CHECK(r["sync"]["status"] == "OutOfSync");
  CHECK(h.runtime.ready("orders", 3) == 0);
}

TEST_CASE("nothing to undo: a first revision has no undo target", "[controller][undo]") {
  Harness h;
  h.apply({orders("1.0.0")});
  CHECK(h.rollout("orders")["undo"].is_null());  // in progress, nothing ever stable
  h.run_for(Duration(5000));
  json r = h.rollout("orders");
  REQUIRE(r["phase"] == "Healthy");
  CHECK(r["undo"].is_null());
  CHECK(r["sync"]["status"] == "Synced");
  auto refused = h.verb("orders", Verb::kUndo);
  REQUIRE_FALSE(refused);
  CHECK(refused.status().code() == StatusCode::kFailedPrecondition);
  CHECK(refused.status().message().find("nothing to undo") != std::string::npos);
}

TEST_CASE("a state record written before undo notes decodes, with no note", "[controller][undo]") {
  Harness h;
  revision_3_paused(h);
  REQUIRE(h.verb("orders", Verb::kUndo));
  const RolloutState& state = h.controller->states().at("orders");
  REQUIRE_FALSE(state.undo_note.empty());
  json record = rollout_state_to_json(state);
  CHECK(record["undoNote"] == state.undo_note);
  record.erase("undoNote");
  auto old = rollout_state_from_json(record);
  REQUIRE(old.is_ok());
  CHECK(old->undo_note.empty());
  // Still OutOfSync, with a reason derived from the revisions alone.
  CHECK(sync_json(*old)["status"] == "OutOfSync");
  CHECK(contains(sync_json(*old)["reason"], "Git says 3.0.0 at c0ffee3"));
}
