// Analysis runs are persisted with the rollout and restored on recovery (issue 19): a finished
// step analysis stays in the rollout object as its evidence, and a run that is started again
// after a restart is handed its earlier status to continue from.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using nlohmann::json;

namespace {

manifests::CanaryStrategy canary_with(std::vector<manifests::CanaryStep> steps) {
  manifests::CanaryStrategy c;
  c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  c.steps = std::move(steps);
  return c;
}

manifests::RolloutAnalysis analysis_of(const std::string& name) {
  manifests::RolloutAnalysis a;
  a.templates.push_back({name});
  return a;
}

// A process restart: the controller's memory and the runner's runs are gone; only durable
// records survive.
void restart(Harness& h) {
  for (const auto& name : h.analysis.started) h.analysis.forget(name);
  REQUIRE(h.crash_and_recover().is_ok());
}

}  // namespace

TEST_CASE("a finished step analysis stays in the rollout object after a restart",
          "[controller][recovery][analysis-runs]") {
  Harness h;
  auto strategy = canary_with(
      {manifests::SetWeightStep{50}, analysis_of("success-rate"), manifests::PauseStep{}});
  auto success_rate = make_template("success-rate");
  success_rate.spec.metrics[0].success_condition = "result >= 0.95";
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)}, {success_rate});
  h.run_for(Duration(5'000));
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)}, {success_rate});
  h.run_for(Duration(20'000));
  json r = h.rollout("orders");
  REQUIRE(r["phase"] == "Paused");
  REQUIRE(r["currentStepIndex"] == 2);
  REQUIRE(r["analysisRuns"].size() == 1);
  REQUIRE(r["analysisRuns"][0]["phase"] == "Successful");

  const int64_t revision = r["desired"]["revision"];
  REQUIRE(r["analysisRuns"][0]["revision"] == revision);
  REQUIRE(r["analysisRuns"][0]["metrics"][0]["successCondition"] == "result >= 0.95");

  restart(h);
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)}, {success_rate});
  h.run_for(Duration(2'000));
  r = h.rollout("orders");
  CHECK(r["currentStepIndex"] == 2);
  // What the dashboard groups and draws by (the revision, the threshold) survives the restart.
  CHECK(r["analysisRuns"][0]["revision"] == revision);
  CHECK(r["analysisRuns"][0]["metrics"][0]["successCondition"] == "result >= 0.95");
  REQUIRE(r["analysisRuns"].size() == 1);
  CHECK(r["analysisRuns"][0]["phase"] == "Successful");
  REQUIRE(r["analysisRuns"][0]["metrics"].size() == 1);
  REQUIRE(r["analysisRuns"][0]["metrics"][0]["measurements"].size() == 1);
  CHECK(r["analysisRuns"][0]["metrics"][0]["measurements"][0]["value"] == 0.995);
}

TEST_CASE("a background analysis started again after a restart resumes its earlier status",
          "[controller][recovery][analysis-runs]") {
  Harness h;
  std::vector<std::shared_ptr<const analysis::AnalysisRunStatus>> resumed;
  h.analysis.script = [&](const analysis::AnalysisRunSpec& spec) {
    if (spec.background) resumed.push_back(spec.resume);
    return fakes::ScriptedOutcome{};  // background + Successful: runs until terminated
  };
  auto strategy = canary_with({manifests::SetWeightStep{50}, manifests::PauseStep{}});
  strategy.analysis = analysis_of("success-rate");
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(5'000));
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(10'000));
  REQUIRE(resumed.size() == 1);
  CHECK(resumed[0] == nullptr);  // a fresh start
  json r = h.rollout("orders");
  REQUIRE(r["analysisRuns"].size() == 1);
  const std::string run = r["analysisRuns"][0]["name"];

  restart(h);
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(2'000));
  REQUIRE(resumed.size() == 2);
  REQUIRE(resumed[1] != nullptr);
  CHECK(resumed[1]->name == run);
  CHECK(resumed[1]->phase == analysis::AnalysisPhase::kRunning);
}
