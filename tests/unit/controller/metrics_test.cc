// /metrics from the controller's read model (issue 20): analysis run metric phases, replicas and
// weights per role, aborts by reason, revision labels on measurements, and the series of
// revisions that left history dropped. The real Controller and facade on a simulated clock.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>

#include "tests/unit/controller/harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using nlohmann::json;

namespace {

manifests::CanaryStrategy routed_canary(std::vector<manifests::CanaryStep> steps) {
  manifests::CanaryStrategy c;
  c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  c.steps = std::move(steps);
  c.scale_down_delay = Duration(5000);
  c.abort_scale_down_delay = Duration(5000);
  return c;
}

manifests::RolloutAnalysis analysis_of(const std::string& name) {
  manifests::RolloutAnalysis a;
  a.templates.push_back({name});
  return a;
}

// The samples of the exposition text: "name{labels}" -> value (comments skipped).
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// Every series name of `metric` whose labels contain `needle`.
std::vector<std::string> series_with(const std::map<std::string, double>& all,
                                     const std::string& metric, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& [name, value] : all) {
    if (name.rfind(metric + "{", 0) == 0 && name.find(needle) != std::string::npos)
      out.push_back(name);
  }
  return out;
}

}  // namespace

TEST_CASE("metrics: analysis run metric phase, replicas and weight per role, aborts by reason",
          "[metrics]") {
  Harness h;
  ControllerFacade facade(*h.controller, h.scheduler);
  h.analysis.script = [](const analysis::AnalysisRunSpec& spec) {
    fakes::ScriptedOutcome o;
    if (spec.canary_version == "1.1.0") {
      o.phase = analysis::AnalysisPhase::kFailed;
      o.value = 0.8;
    }
    return o;
  };
  auto strategy = routed_canary({manifests::SetWeightStep{50}, analysis_of("success-rate"),
                                 manifests::PauseStep{}});
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(2000));

  // Mid-analysis: the canary has 1 of 2 instances and half the traffic, its run is Running.
  json r = h.rollout("orders");
  REQUIRE(r["analysisRuns"].size() == 1);
  const std::string run = r["analysisRuns"][0]["name"];
  auto m = samples(facade.metrics_text());
  CHECK(m["sluice_rollout_replicas_desired{rollout=\"orders\",role=\"stable\"}"] == 2);
  CHECK(m["sluice_rollout_replicas_desired{rollout=\"orders\",role=\"canary\"}"] == 1);
  CHECK(m["sluice_rollout_replicas_ready{rollout=\"orders\",role=\"stable\"}"] == 2);
  CHECK(m["sluice_rollout_replicas_ready{rollout=\"orders\",role=\"canary\"}"] == 1);
  CHECK(m["sluice_rollout_weight{rollout=\"orders\",role=\"stable\"}"] == 50);
  CHECK(m["sluice_rollout_weight{rollout=\"orders\",role=\"canary\"}"] == 50);
  const std::string phase_series = "sluice_analysis_run_metric_phase{rollout=\"orders\",revision="
                                   "\"2\",run=\"" + run + "\",metric=\"success-rate\",phase=";
  CHECK(m[phase_series + "\"Running\"}"] == 1);
  CHECK(m[phase_series + "\"Failed\"}"] == 0);
  CHECK(m.count(phase_series + "\"Successful\"}") == 1);
  CHECK(series_with(m, "sluice_rollout_aborts_total", "").empty());

  // The analysis fails: one abort counted with the event's reason, the run's phase is Failed,
  // and the measurement carries its revision.
  h.run_for(Duration(10'000));
  REQUIRE(h.rollout("orders")["aborted"] == true);
  m = samples(facade.metrics_text());
  CHECK(m["sluice_rollout_aborts_total{rollout=\"orders\",reason=\"AnalysisFailed\"}"] == 1);
  CHECK(m[phase_series + "\"Failed\"}"] == 1);
  CHECK(m[phase_series + "\"Running\"}"] == 0);
  CHECK(m["sluice_analysis_measurements_total{rollout=\"orders\",revision=\"2\",metric=\"success-"
          "rate\",phase=\"Failed\"}"] == 1);
  CHECK(m["sluice_rollout_weight{rollout=\"orders\",role=\"stable\"}"] == 100);

  // An operator's abort counts under its own reason; the first is not counted again.
  h.analysis.script = nullptr;
  REQUIRE(h.verb("orders", Verb::kRetry));
  h.run_for(Duration(1000));
  REQUIRE(h.verb("orders", Verb::kAbort));
  h.run_for(Duration(1000));
  m = samples(facade.metrics_text());
  CHECK(m["sluice_rollout_aborts_total{rollout=\"orders\",reason=\"Aborted\"}"] == 1);
  CHECK(m["sluice_rollout_aborts_total{rollout=\"orders\",reason=\"AnalysisFailed\"}"] == 1);
}

TEST_CASE("metrics: series of revisions that left history are dropped", "[metrics]") {
  Harness h;
  ControllerFacade facade(*h.controller, h.scheduler);
  auto strategy = routed_canary({manifests::SetWeightStep{50}, analysis_of("success-rate")});
  auto rollout = [&](const std::string& version) {
    auto r = make_rollout("orders", version, 2, strategy);
    r.spec.revision_history_limit = 1;  // keeps 3 revisions (the limit, stable and update)
    return r;
  };
  for (int v = 1; v <= 6; ++v) {
    h.apply({rollout(std::to_string(v) + ".0.0")}, {make_template("success-rate")});
    h.run_for(Duration(30'000));
    REQUIRE(h.rollout("orders")["phase"] == "Healthy");
  }
  std::set<int64_t> kept;
  for (const auto& rev : h.controller->states().at("orders").revisions) kept.insert(rev.number);
  REQUIRE(kept.size() < 6);
  REQUIRE(kept.count(6) == 1);

  auto m = samples(facade.metrics_text());
  for (const char* metric :
       {"sluice_analysis_measurements_total", "sluice_analysis_run_metric_phase"}) {
    INFO(metric);
    CHECK_FALSE(series_with(m, metric, "revision=\"6\"").empty());
    for (int64_t revision = 2; revision <= 5; ++revision) {
      INFO("revision " << revision);
      const std::string label = "revision=\"" + std::to_string(revision) + "\"";
      if (!kept.count(revision)) CHECK(series_with(m, metric, label).empty());
    }
  }
}
