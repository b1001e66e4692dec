// The AnalysisRun state machine: pure logic over timestamped measurements (no I/O, no timers).
//
// Semantics follow Argo Rollouts' analysis controller:
// - Each metric's first measurement is due at started_at + initialDelay; later ones at the
//   previous measurement's finished_at + interval.
// - count: the metric is Successful after `count` measurements. Absent count with an interval:
//   it runs until terminate(). Neither count nor interval: exactly one measurement.
// - A measurement's phase: Error if the provider failed or a condition could not be evaluated;
//   else by the conditions (both set and neither true: Inconclusive; only successCondition: false
//   is Failed; only failureCondition: true is Failed, else Successful; none: the provider's own
//   verdict, Successful by default).
// - Metric phase: Failed when failed > failureLimit (-1 disables), Inconclusive when
//   inconclusive > inconclusiveLimit, Error when consecutiveErrors > consecutiveErrorLimit.
//   A critical judge metric fails on its first High/Low.
// - Run phase: as soon as one non-dry-run metric completes Failed/Error/Inconclusive, the run
//   terminates with the worst phase (Failed > Error > Inconclusive > Successful). Dry-run
//   metrics are measured and reported but never decide.
//
// Threading: none; the owner (AnalysisRunnerImpl) serialises calls.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "healthcheck/analysis/analysis.h"
#include "manifests/condition.h"

namespace sluice::analysis {

inline constexpr size_t kMaxMeasurementsPerMetric = 20;

// Variables for `{{...}}` substitution: "args.<name>", "rollout", "version.stable",
// "version.canary", "revision.stable", "revision.canary".
using Vars = std::map<std::string, std::string>;

// Builds the variables of a run: template arg defaults, overridden by the spec's args, plus the
// built-ins. An arg without a value anywhere is an error naming it.
Result<Vars> build_vars(const AnalysisRunSpec& spec);

// Replaces every `{{ name }}` (spaces allowed) in text. An unknown name or an unterminated `{{`
// is an error naming it.
Result<std::string> substitute(const std::string& text, const Vars& vars);

// Substitutes every string field of the provider (query, url, command, headers, ...).
Result<manifests::Metric> substitute_metric(const manifests::Metric& metric, const Vars& vars);

// A metric with its arguments substituted and its conditions parsed.
struct ResolvedMetric {
  manifests::Metric metric;
  std::optional<manifests::Condition> success;
  std::optional<manifests::Condition> failure;
};

// Applies the conditions to a finished provider measurement and returns its final phase and
// message. Pure; exposed for tests.
Measurement assess_measurement(const ResolvedMetric& metric, Measurement measurement);

class AnalysisRunState {
 public:
  // Resolves args and conditions. On error the run starts (and stays) in phase Error with the
  // reason as its message: a bad template is data for the rollout, not a crash. With
  // spec.resume, continues that earlier status (see AnalysisRunSpec::resume).
  AnalysisRunState(const AnalysisRunSpec& spec, TimePoint now);

  const AnalysisRunStatus& status() const { return status_; }
  size_t metric_count() const { return metrics_.size(); }
  const ResolvedMetric& metric(size_t index) const { return metrics_[index]; }
  bool done() const { return is_terminal(status_.phase); }

  // Metrics whose next measurement is due at `now` and not already in flight.
  std::vector<size_t> due(TimePoint now) const;
  // When the next measurement of any metric becomes due (nullopt: none pending, or all in flight).
  std::optional<TimePoint> next_due() const;

  // Marks a measurement of metric `index` as started.
  void begin(size_t index, TimePoint now);
  // Records a provider's measurement (phase Pending = assess by conditions; Error = provider
  // error; other phases = the provider's own verdict). Ignored once the run is done or when no
  // measurement of that metric is in flight.
  void complete(size_t index, Measurement measurement, TimePoint now);

  // Stops the run: metrics still running complete as Successful (Argo: "terminated"), and the
  // run phase becomes the worst of its metrics.
  void terminate(TimePoint now);

 private:
  struct Track {
    bool in_flight = false;
    TimePoint next_due{};
  };
  void resume_from(const AnalysisRunStatus& earlier);
  void assess_metric(size_t index, bool terminating);
  void assess_run(TimePoint now, bool terminating);

  AnalysisRunStatus status_;
  std::vector<ResolvedMetric> metrics_;
  std::vector<Track> tracks_;
};

}  // namespace sluice::analysis
