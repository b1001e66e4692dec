// SimulatedAnalysisRunner: the real AnalysisRun state machine (healthcheck/analysis/analysis_run.h:
// argument resolution, conditions, count/interval, failure/inconclusive/error limits, dry runs,
// terminate) driven by SimulatedClock timers, with one scripted provider that answers every
// measurement after a scripted latency.
//
// Why not AnalysisRunnerImpl itself: it waits on boost::asio::steady_timer (wall time) and its
// providers do real I/O, so it cannot run on a simulated clock. This class repeats its ~60 lines
// of scheduling glue (due() -> begin() -> measure -> complete(); next_due() -> timer; notify on
// every measurement) over the same AnalysisRunState, so every verdict the simulation sees comes
// from the production state machine.
//
// A run dies with its runner, as in production (the runner lives in the controller's process):
// after a simulated crash the harness builds a new one. Single-threaded (the clock's).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "healthcheck/analysis/analysis.h"
#include "healthcheck/analysis/analysis_run.h"
#include "tests/support/fakes/crash_points.h"

namespace sluice::fakes {

struct ScriptedMeasurement {
  analysis::Measurement measurement;  // phase Pending: the metric's conditions decide
  Duration latency{100};              // until the provider answers
};

class SimulatedAnalysisRunner final : public analysis::AnalysisRunner {
 public:
  using Provider = std::function<ScriptedMeasurement(const analysis::AnalysisRunSpec& run,
                                                     const manifests::Metric& metric)>;
  SimulatedAnalysisRunner(SimulatedClock& clock, Provider provider, CrashPoints* crash = nullptr);
  ~SimulatedAnalysisRunner() override;
  SimulatedAnalysisRunner(const SimulatedAnalysisRunner&) = delete;
  SimulatedAnalysisRunner& operator=(const SimulatedAnalysisRunner&) = delete;

  void start(const analysis::AnalysisRunSpec& spec) override;
  void terminate(const std::string& name) override;
  void forget(const std::string& name) override;
  std::optional<analysis::AnalysisRunStatus> status(const std::string& name) const override;
  void set_listener(Listener listener) override { listener_ = std::move(listener); }

  uint64_t measurements() const { return measurements_; }

 private:
  struct Run {
    Run(const analysis::AnalysisRunSpec& s, TimePoint now, uint64_t gen)
        : spec(s), state(s, now), generation(gen) {}
    analysis::AnalysisRunSpec spec;
    analysis::AnalysisRunState state;
    uint64_t generation;
    SimulatedClock::TimerId timer = 0;
  };
  void schedule(Run& run);
  void cancel_timer(Run& run);
  void tick(const std::string& name, uint64_t generation);
  void on_measurement(const std::string& name, uint64_t generation, size_t index,
                      analysis::Measurement m);
  void notify(const Run& run);
  bool dead(const char* where) { return crash_ && crash_->reached(where); }

  SimulatedClock& clock_;
  Provider provider_;
  CrashPoints* crash_;
  std::map<std::string, std::unique_ptr<Run>> runs_;
  Listener listener_;
  uint64_t next_generation_ = 1;
  uint64_t measurements_ = 0;
  // Timers capture this flag, so a runner destroyed (a crash) leaves them harmless.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::fakes
