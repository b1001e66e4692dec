#include "tests/support/fakes/fake_analysis.h"

namespace sluice::fakes {

void FakeAnalysisRunner::start(const analysis::AnalysisRunSpec& spec) {
  if (crash && crash->reached("analysis-start:before")) return;
  start_run(spec);
  if (crash) (void)crash->reached("analysis-start:after");
}

void FakeAnalysisRunner::start_run(const analysis::AnalysisRunSpec& spec) {
  if (runs_.count(spec.name)) return;
  started.push_back(spec.name);
  analysis::AnalysisRunStatus st;
  st.name = spec.name;
  st.revision = spec.canary_revision;
  st.phase = analysis::AnalysisPhase::kRunning;
  st.started_at = clock_.now();
  analysis::MetricResult metric;
  metric.name = spec.templates.empty() ? "success-rate" : spec.templates[0].metadata.name;
  const ScriptedOutcome outcome = script ? script(spec) : ScriptedOutcome{};
  metric.provider = outcome.provider;
  if (!spec.templates.empty() && !spec.templates[0].spec.metrics.empty()) {
    metric.success_condition = spec.templates[0].spec.metrics[0].success_condition;
    metric.failure_condition = spec.templates[0].spec.metrics[0].failure_condition;
  }
  metric.phase = analysis::AnalysisPhase::kRunning;
  st.metrics.push_back(metric);
  runs_[spec.name] = st;
  rollout_of_[spec.name] = spec.rollout;
  if (spec.background && outcome.phase == analysis::AnalysisPhase::kSuccessful) return;
  const std::string name = spec.name;
  clock_.call_after(outcome.after, [this, name, outcome] {
    auto it = runs_.find(name);
    if (it == runs_.end() || terminated.count(name)) return;
    auto& run = it->second;
    analysis::Measurement m;
    m.phase = outcome.phase;
    m.value = outcome.value;
    m.query = "fake";
    m.started_at = clock_.now() - outcome.after;
    m.finished_at = clock_.now();
    m.topic = outcome.topic;
    m.topic_partitions = outcome.topic_partitions;
    run.metrics[0].measurements.push_back(m);
    run.metrics[0].count += 1;
    run.metrics[0].phase = outcome.phase;
    run.metrics[0].message = outcome.message;
    run.phase = outcome.phase;
    run.message = outcome.message.empty()
                      ? std::string(outcome.phase == analysis::AnalysisPhase::kSuccessful
                                        ? "all measurements passed"
                                        : "success-rate: value 0.80 < 0.99 (failureLimit 0)")
                      : outcome.message;
    run.finished_at = clock_.now();
    if (listener_) listener_(rollout_of_[name], name);
  });
}

void FakeAnalysisRunner::terminate(const std::string& name) {
  if (crash && crash->reached("analysis-terminate:before")) return;
  terminated.insert(name);
  auto it = runs_.find(name);
  if (it != runs_.end() && !it->second.finished_at) it->second.finished_at = clock_.now();
}

std::optional<analysis::AnalysisRunStatus> FakeAnalysisRunner::status(
    const std::string& name) const {
  auto it = runs_.find(name);
  if (it == runs_.end()) return std::nullopt;
  return it->second;
}

}  // namespace sluice::fakes
