// FakeAnalysisRunner: runs finish after a delay on the SimulatedClock with a scripted phase
// (default Successful), or a phase drawn from a noisy script. Each run carries one metric with
// one measurement per second of run time, so the evidence path is exercised.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "base/clock.h"
#include "healthcheck/analysis/analysis.h"
#include "tests/support/fakes/crash_points.h"

namespace sluice::fakes {

struct ScriptedOutcome {
  analysis::AnalysisPhase phase = analysis::AnalysisPhase::kSuccessful;
  Duration after{5000};
  double value = 0.995;
  std::string message;
  std::string provider = "builtin";  // the run's metric's provider, as MetricResult::provider
  std::string topic;                 // with topic_partitions: what a kafka measurement read
  std::optional<int> topic_partitions;
};

class FakeAnalysisRunner final : public analysis::AnalysisRunner {
 public:
  explicit FakeAnalysisRunner(SimulatedClock& clock) : clock_(clock) {}

  // Decides each run's outcome from its spec (default: Successful after 5s).
  std::function<ScriptedOutcome(const analysis::AnalysisRunSpec&)> script;

  void start(const analysis::AnalysisRunSpec& spec) override;
  void terminate(const std::string& name) override;
  void forget(const std::string& name) override {
    if (crash && crash->down()) return;
    runs_.erase(name);
  }
  std::optional<analysis::AnalysisRunStatus> status(const std::string& name) const override;
  void set_listener(Listener listener) override { listener_ = std::move(listener); }

  std::vector<std::string> started;  // run names in start order
  std::set<std::string> terminated;
  // When set, start() and terminate() are crash points of the controller (before and after);
  // once it is down they have no effect.
  CrashPoints* crash = nullptr;

 private:
  void start_run(const analysis::AnalysisRunSpec& spec);

  SimulatedClock& clock_;
  std::map<std::string, analysis::AnalysisRunStatus> runs_;
  std::map<std::string, std::string> rollout_of_;
  Listener listener_;
};

}  // namespace sluice::fakes
