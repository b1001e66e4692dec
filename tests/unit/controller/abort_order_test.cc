// The abort contract, in order (issue 22): an abort, by the verb or by an analysis verdict, is
// recorded and made durable before the router takes the weight back to stable, and it reaches
// the router at once, without waiting for any timer (no requeue delay, debounce or poll between
// the decision and the weight).
#include <catch2/catch.hpp>

#include "tests/unit/controller/harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using nlohmann::json;

namespace {

manifests::CanaryStrategy canary_at_weight(int weight_percent, bool with_analysis) {
  manifests::CanaryStrategy c;
  c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  c.steps = {manifests::SetWeightStep{weight_percent}, manifests::PauseStep{}};
  c.abort_scale_down_delay = Duration(60'000);
  if (with_analysis) {
    manifests::RolloutAnalysis a;
    a.templates.push_back({"success-rate"});
    a.starting_step = 0;
    c.analysis = a;
  }
  return c;
}

// Index of the first record whose state says the update is aborted; -1 when none.
long first_aborted_record(const std::vector<json>& records) {
  for (size_t i = 0; i < records.size(); ++i) {
    const json& r = records[i];
    if (r.contains("state") && r["state"].is_object() &&
        r["state"]["status"].value("aborted", false)) {
      return static_cast<long>(i);
    }
  }
  return -1;
}

// What the journal held when the router was told to take the canary's weight to 0.
struct AtStableSwitch {
  bool seen = false;
  size_t durable_records = 0;  // records made durable by then
  size_t unflushed = 0;        // records appended but not durable by then
  TimePoint at{};
};

// Watches every route table the controller applies; keeps the journal's state at the first
// apply that takes revision 2 (the canary) from a positive weight to 0.
void watch_stable_switch(Harness& h, AtStableSwitch& out) {
  auto before = std::make_shared<AtStableSwitch>();
  h.crash.on_point = [&h, &out, before](const char* where) {
    const std::string point = where;
    if (point == "route:before") {
      before->durable_records = h.sink.durable().size();
      before->unflushed = h.journal.unflushed();
      before->at = h.clock.now();
    } else if (point == "route:after" && !out.seen && h.router.weight("orders", 2) == 0) {
      out = *before;
      out.seen = true;
    }
  };
}

}  // namespace

TEST_CASE("an abort by the verb is durable before the router takes the weight, at once",
          "[controller][abort]") {
  Harness h;
  const auto strategy = canary_at_weight(90, false);
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "2.0.0", 2, strategy)});
  h.run_for(Duration(5000));
  REQUIRE(h.rollout("orders")["phase"] == "Paused");
  REQUIRE(h.router.weight("orders", 2) == 90);

  AtStableSwitch at;
  watch_stable_switch(h, at);
  const TimePoint asked = h.clock.now();
  REQUIRE(h.verb("orders", Verb::kAbort).is_ok());
  h.run_for(Duration(0));  // what is posted now runs; no timer is due
  REQUIRE(at.seen);
  CHECK(at.at == asked);
  CHECK(h.router.weight("orders", 1) == 100);
  CHECK(at.unflushed == 0);
  const long aborted = first_aborted_record(h.sink.records());
  REQUIRE(aborted >= 0);
  CHECK(static_cast<size_t>(aborted) < at.durable_records);
}

TEST_CASE("an abort by an analysis verdict is durable before the router takes the weight, at once",
          "[controller][abort]") {
  Harness h;
  const auto strategy = canary_at_weight(90, true);
  h.analysis.script = [](const analysis::AnalysisRunSpec& spec) {
    fakes::ScriptedOutcome o;
    if (spec.canary_revision == 2) {
      o.phase = analysis::AnalysisPhase::kFailed;
      o.after = Duration(7000);
      o.message = "error rate above the limit";
    }
    return o;
  };
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "2.0.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(3000));
  REQUIRE(h.rollout("orders")["phase"] == "Paused");
  REQUIRE(h.router.weight("orders", 2) == 90);

  AtStableSwitch at;
  watch_stable_switch(h, at);
  // The run fails at a whole second of simulated time; advance in 1 ms steps so that any timer
  // between the verdict and the weight would show as a later switch.
  TimePoint failed_at{};
  for (int ms = 0; ms < 10'000 && !at.seen; ++ms) {
    h.run_for(Duration(1));
    const json runs = h.rollout("orders")["analysisRuns"];
    if (failed_at == TimePoint{} && !runs.empty() && runs.back().value("phase", "") == "Failed") {
      failed_at = h.clock.now();
    }
  }
  REQUIRE(at.seen);
  CHECK(h.rollout("orders")["aborted"] == true);
  CHECK(h.router.weight("orders", 1) == 100);
  CHECK(at.unflushed == 0);
  const long aborted = first_aborted_record(h.sink.records());
  REQUIRE(aborted >= 0);
  CHECK(static_cast<size_t>(aborted) < at.durable_records);
  // The verdict and the switch fall within the same millisecond step.
  CHECK(failed_at != TimePoint{});
  CHECK(at.at <= failed_at);
}
