#include <catch2/catch.hpp>

#include "tests/unit/strategies/world.h"

using namespace sluice;
using namespace sluice::strategies;
using sluice::strategies::testing::canary_with;
using sluice::strategies::testing::World;
using M = std::map<int64_t, int>;

namespace {

manifests::RolloutAnalysis analysis_of(const char* name) {
  manifests::RolloutAnalysis a;
  a.templates.push_back({name});
  return a;
}

manifests::RolloutSpec canary_spec(int replicas, std::vector<manifests::CanaryStep> steps,
                                   bool routed) {
  manifests::RolloutSpec spec;
  spec.replicas = replicas;
  auto c = canary_with(std::move(steps));
  c.max_surge = {1, false};
  c.max_unavailable = {0, false};
  if (routed) c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  c.scale_down_delay = Duration(30'000);
  c.abort_scale_down_delay = Duration(10'000);
  spec.strategy = c;
  return spec;
}

World stable_world(manifests::RolloutSpec spec) {
  World w(std::move(spec));
  w.start_revision(1);
  w.settle();
  REQUIRE(w.status.stable_revision == 1);
  w.max_total_seen = 0;
  w.min_ready_seen = 1 << 30;
  w.start_revision(2);
  return w;
}

}  // namespace

TEST_CASE("basic canary: weight by replica counts, total within replicas + maxSurge", "[canary]") {
  auto w =
      stable_world(canary_spec(4, {manifests::SetWeightStep{25}, manifests::PauseStep{}}, false));
  w.settle();
  CHECK(w.status.phase == Phase::kPaused);
  CHECK(w.status.current_step_index == 1);
  CHECK(w.last.replicas == M{{1, 3}, {2, 1}});
  CHECK(w.last.weights == M{{1, 75}, {2, 25}});
  CHECK(w.max_total_seen <= 5);
  CHECK(w.min_ready_seen >= 4);
  // promote past the indefinite pause: full promotion.
  auto promoted = apply_verb(w.spec, w.status, OperatorVerb::kPromote, false, "alice", w.now);
  REQUIRE(promoted);
  CHECK(promoted->transition.reason == "Promoted");
  w.status = promoted->status;
  w.settle(100);
  CHECK(w.status.stable_revision == 2);
  CHECK(w.status.phase == Phase::kHealthy);
  CHECK(w.last.replicas == M{{2, 4}});
  CHECK(w.max_total_seen <= 5);
  CHECK(w.min_ready_seen >= 4);
}

TEST_CASE("timed pause stores its start and ends by time, not by timer", "[canary]") {
  auto w = stable_world(
      canary_spec(2,
                  {manifests::SetWeightStep{50}, manifests::PauseStep{Duration(30'000)},
                   manifests::SetWeightStep{100}},
                  false));
  w.settle();
  CHECK(w.status.phase == Phase::kPaused);
  REQUIRE(w.status.pause_started_at);
  CHECK(*w.status.pause_started_at == w.now);
  REQUIRE(w.last.requeue_after);
  CHECK(*w.last.requeue_after == Duration(30'000));
  w.now += Duration(29'999);
  w.step();
  CHECK(w.status.current_step_index == 1);
  w.now += Duration(1);
  w.settle(100);
  CHECK(w.status.stable_revision == 2);
}

TEST_CASE("routed canary: stable stays full, weight only after the router applied it", "[canary]") {
  auto w =
      stable_world(canary_spec(4, {manifests::SetWeightStep{20}, manifests::PauseStep{}}, true));
  w.router_fails = true;
  w.settle();
  CHECK(w.status.current_step_index == 0);  // weight not applied: no advance
  CHECK(w.last.replicas == M{{1, 4}, {2, 1}});
  CHECK(w.last.weights == M{{1, 80}, {2, 20}});
  w.router_fails = false;
  w.settle();
  CHECK(w.status.current_step_index == 1);
  CHECK(w.status.phase == Phase::kPaused);
}

TEST_CASE("routed canary: no traffic to a canary with no ready instance", "[canary]") {
  auto w = stable_world(canary_spec(4, {manifests::SetWeightStep{50}}, true));
  w.never_ready.insert(2);
  w.settle();
  CHECK(w.last.weights == M{{1, 100}});
  CHECK(w.status.current_step_index == 0);
}

TEST_CASE("setCanaryScale decides capacity with a router", "[canary]") {
  manifests::SetCanaryScale fixed;
  fixed.replicas = 3;
  manifests::SetCanaryScale match;
  match.match_traffic_weight = true;
  auto w = stable_world(canary_spec(
      10,
      {fixed, manifests::SetWeightStep{10}, manifests::PauseStep{}, match, manifests::PauseStep{}},
      true));
  w.settle();
  CHECK(w.status.current_step_index == 2);
  CHECK(w.last.replicas == M{{1, 10}, {2, 3}});
  CHECK(w.last.weights == M{{1, 90}, {2, 10}});
  w.status = apply_verb(w.spec, w.status, OperatorVerb::kPromote, false, "", w.now)->status;
  w.settle();
  CHECK(w.status.current_step_index == 4);
  CHECK(w.last.replicas == M{{1, 10}, {2, 1}});
}

TEST_CASE("setHeaderRoute is applied before the step completes", "[canary]") {
  manifests::SetHeaderRoute hr;
  hr.name = "testers";
  hr.match.push_back({"X-Canary", {std::string("1"), std::nullopt, std::nullopt}});
  auto w = stable_world(
      canary_spec(2, {manifests::SetWeightStep{50}, hr, manifests::PauseStep{}}, true));
  w.settle();
  CHECK(w.status.current_step_index == 2);
  REQUIRE(w.last.header_route);
  CHECK(w.last.header_route->name == "testers");
}

TEST_CASE("inline analysis blocks, succeeds, fails or pauses when inconclusive", "[canary]") {
  const std::vector<manifests::CanaryStep> steps{
      manifests::SetWeightStep{50}, analysis_of("success-rate"), manifests::SetWeightStep{100}};
  SECTION("success advances") {
    auto w = stable_world(canary_spec(2, steps, true));
    w.settle();
    CHECK(w.status.current_step_index == 1);
    REQUIRE(w.last.analyses.size() == 1);
    CHECK(w.last.analyses[0].kind == AnalysisKind::kStep);
    CHECK(w.last.analyses[0].key == "r2.a0.step1");
    w.set_analysis("step1", Verdict::kSuccessful);
    w.settle(100);
    CHECK(w.status.stable_revision == 2);
  }
  SECTION("failure aborts to stable at once") {
    auto w = stable_world(canary_spec(2, steps, true));
    w.settle();
    w.set_analysis("step1", Verdict::kFailed, "success-rate: 0.82 < 0.99 (failureLimit 1)");
    w.step();
    CHECK(w.status.aborted);
    CHECK(w.status.phase == Phase::kDegraded);
    CHECK(w.status.message.find("0.82") != std::string::npos);
    CHECK(w.last.weights == M{{1, 100}});
    REQUIRE(!w.last.transitions.empty());
    CHECK(w.last.transitions.back().reason == "AnalysisFailed");
    CHECK(w.last.transitions.back().analysis_key == "r2.a0.step1");
    CHECK(w.last.analyses.empty());
    // abortScaleDownDelaySeconds: the canary stays 10s, then goes.
    CHECK(w.last.replicas == M{{1, 2}, {2, 1}});
    w.now += Duration(10'000);
    w.step();
    CHECK(w.last.replicas == M{{1, 2}});
    // retry starts again with fresh analysis runs.
    auto retried = apply_verb(w.spec, w.status, OperatorVerb::kRetry, false, "", w.now);
    REQUIRE(retried);
    w.status = retried->status;
    w.settle();
    CHECK_FALSE(w.status.aborted);
    REQUIRE(w.last.analyses.size() == 1);
    CHECK(w.last.analyses[0].key == "r2.a1.step1");
  }
  SECTION("inconclusive pauses until promoted") {
    auto w = stable_world(canary_spec(2, steps, true));
    w.settle();
    w.set_analysis("step1", Verdict::kInconclusive, "neither condition true");
    w.step();
    CHECK(w.status.phase == Phase::kPaused);
    CHECK(w.status.inconclusive_pause);
    w.status = apply_verb(w.spec, w.status, OperatorVerb::kPromote, false, "", w.now)->status;
    w.settle(100);
    CHECK(w.status.stable_revision == 2);
  }
}

TEST_CASE("background analysis runs from startingStep and aborts on failure", "[canary]") {
  auto spec = canary_spec(2, {manifests::SetWeightStep{50}, manifests::PauseStep{}}, false);
  auto& c = std::get<manifests::CanaryStrategy>(spec.strategy);
  c.analysis = analysis_of("errors");
  c.analysis->starting_step = 1;
  auto w = stable_world(spec);
  w.step();
  CHECK(w.last.analyses.empty());
  w.settle();
  REQUIRE(w.last.analyses.size() == 1);
  CHECK(w.last.analyses[0].kind == AnalysisKind::kBackground);
  w.set_analysis("background", Verdict::kError, "prometheus unreachable x4");
  w.step();
  CHECK(w.status.aborted);
  CHECK(w.last.transitions.back().analysis_key == "r2.a0.background");
}

TEST_CASE("background analysis starts in the pass that reaches startingStep", "[canary]") {
  // The pass that completes setWeight and enters the timed pause must already ask for the
  // background analysis: the next pass is only due when the pause ends.
  auto spec = canary_spec(
      2, {manifests::SetWeightStep{20}, manifests::PauseStep{Duration(5'000)}}, true);
  auto& c = std::get<manifests::CanaryStrategy>(spec.strategy);
  c.analysis = analysis_of("errors");
  c.analysis->starting_step = 1;
  auto w = stable_world(spec);
  for (int i = 0; i < 20 && w.status.current_step_index == 0; ++i) w.step();
  REQUIRE(w.status.current_step_index == 1);
  REQUIRE(w.last.analyses.size() == 1);
  CHECK(w.last.analyses[0].kind == AnalysisKind::kBackground);
  CHECK(w.last.requeue_after.has_value());
}

TEST_CASE("promote full skips steps and analysis", "[canary]") {
  auto w = stable_world(canary_spec(
      2, {manifests::SetWeightStep{50}, analysis_of("x"), manifests::PauseStep{}}, true));
  w.settle();
  auto full = apply_verb(w.spec, w.status, OperatorVerb::kPromote, true, "", w.now);
  REQUIRE(full);
  w.status = full->status;
  w.settle();
  CHECK(w.status.stable_revision == 2);
  // scaleDownDelaySeconds keeps the old stable for 30s.
  CHECK(w.last.replicas == M{{1, 2}, {2, 2}});
  CHECK(w.last.weights == M{{2, 100}});
  w.now += Duration(30'000);
  w.step();
  CHECK(w.last.replicas == M{{2, 2}});
}

TEST_CASE("fast track (rollback window) skips steps", "[canary]") {
  World w(canary_spec(2, {manifests::PauseStep{}}, false));
  w.start_revision(1);
  w.settle();
  w.start_revision(2, /*fast_track=*/true);
  w.settle();
  CHECK(w.status.stable_revision == 2);
}

TEST_CASE("a new revision mid-canary starts from step 0 against the same stable", "[canary]") {
  auto w =
      stable_world(canary_spec(4, {manifests::SetWeightStep{50}, manifests::PauseStep{}}, false));
  w.settle();
  CHECK(w.last.replicas == M{{1, 2}, {2, 2}});
  w.start_revision(3);
  w.settle(100);
  CHECK(w.status.stable_revision == 1);
  CHECK(w.status.update_revision == 3);
  CHECK(w.status.current_step_index == 1);
  CHECK(w.last.replicas == M{{1, 2}, {3, 2}});
  CHECK(w.max_total_seen <= 5);
  CHECK(w.min_ready_seen >= 4);
}

TEST_CASE("operator abort sends all traffic to stable", "[canary]") {
  auto w =
      stable_world(canary_spec(4, {manifests::SetWeightStep{50}, manifests::PauseStep{}}, false));
  w.settle();
  auto aborted = apply_verb(w.spec, w.status, OperatorVerb::kAbort, false, "bob", w.now);
  REQUIRE(aborted);
  CHECK(aborted->status.message.find("bob") != std::string::npos);
  w.status = aborted->status;
  w.step();
  CHECK(w.last.weights == M{{1, 100}});
  w.settle(100);
  CHECK(w.last.replicas == M{{1, 4}});
  CHECK(w.status.phase == Phase::kDegraded);
  CHECK(w.min_ready_seen >= 4);
}
