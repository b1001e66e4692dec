#include "tests/support/fakes/sim_analysis.h"

#include <algorithm>

namespace sluice::fakes {

namespace an = analysis;

SimulatedAnalysisRunner::SimulatedAnalysisRunner(SimulatedClock& clock, Provider provider,
                                                 CrashPoints* crash)
    : clock_(clock), provider_(std::move(provider)), crash_(crash) {}

SimulatedAnalysisRunner::~SimulatedAnalysisRunner() {
  *alive_ = false;
  for (auto& [name, run] : runs_) cancel_timer(*run);
}

void SimulatedAnalysisRunner::cancel_timer(Run& run) {
  if (run.timer != 0) clock_.cancel(run.timer);
  run.timer = 0;
}

void SimulatedAnalysisRunner::notify(const Run& run) {
  if (listener_) listener_(run.spec.rollout, run.spec.name);
}

void SimulatedAnalysisRunner::start(const an::AnalysisRunSpec& spec) {
  if (dead("analysis-start:before")) return;
  if (runs_.count(spec.name)) return;
  auto run = std::make_unique<Run>(spec, clock_.now(), next_generation_++);
  Run& ref = *run;
  runs_[spec.name] = std::move(run);
  const bool failed_at_start = ref.state.done();  // e.g. a missing argument: phase Error
  schedule(ref);
  if (failed_at_start) notify(ref);
  (void)dead("analysis-start:after");
}

void SimulatedAnalysisRunner::schedule(Run& run) {
  cancel_timer(run);
  if (run.state.done()) return;
  const auto due = run.state.next_due();
  if (!due) return;  // waiting for measurements in flight
  std::weak_ptr<bool> alive = alive_;
  run.timer = clock_.call_at(std::max(*due, clock_.now()),
                             [this, alive, name = run.spec.name, gen = run.generation] {
                               if (alive.expired() || !*alive.lock()) return;
                               tick(name, gen);
                             });
}

void SimulatedAnalysisRunner::tick(const std::string& name, uint64_t generation) {
  auto it = runs_.find(name);
  if (it == runs_.end() || it->second->generation != generation) return;
  Run& run = *it->second;
  run.timer = 0;
  const TimePoint now = clock_.now();
  for (size_t i : run.state.due(now)) {
    run.state.begin(i, now);
    ScriptedMeasurement scripted = provider_(run.spec, run.state.metric(i).metric);
    scripted.measurement.started_at = now;
    std::weak_ptr<bool> alive = alive_;
    clock_.call_after(scripted.latency, [this, alive, name, generation, i,
                                         m = std::move(scripted.measurement)]() mutable {
      if (alive.expired() || !*alive.lock()) return;
      m.finished_at = clock_.now();
      on_measurement(name, generation, i, std::move(m));
    });
  }
  schedule(run);
}

void SimulatedAnalysisRunner::on_measurement(const std::string& name, uint64_t generation,
                                             size_t index, an::Measurement m) {
  auto it = runs_.find(name);
  if (it == runs_.end() || it->second->generation != generation) return;
  Run& run = *it->second;
  if (run.state.done()) return;
  ++measurements_;
  run.state.complete(index, std::move(m), clock_.now());
  if (run.state.done()) {
    cancel_timer(run);
  } else {
    schedule(run);
  }
  notify(run);
}

void SimulatedAnalysisRunner::terminate(const std::string& name) {
  if (dead("analysis-terminate:before")) return;
  auto it = runs_.find(name);
  if (it == runs_.end() || it->second->state.done()) return;
  it->second->state.terminate(clock_.now());
  cancel_timer(*it->second);
  notify(*it->second);
}

void SimulatedAnalysisRunner::forget(const std::string& name) {
  if (crash_ && crash_->down()) return;
  auto it = runs_.find(name);
  if (it == runs_.end()) return;
  cancel_timer(*it->second);
  runs_.erase(it);
}

std::optional<an::AnalysisRunStatus> SimulatedAnalysisRunner::status(
    const std::string& name) const {
  auto it = runs_.find(name);
  if (it == runs_.end()) return std::nullopt;
  return it->second->state.status();
}

}  // namespace sluice::fakes
