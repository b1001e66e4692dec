// AnalysisRun types and the AnalysisRunner interface the controller drives.
//
// Semantics follow Argo Rollouts' AnalysisRun: per metric initialDelay, interval, count,
// successCondition/failureCondition, failureLimit (-1 disables), inconclusiveLimit,
// consecutiveErrorLimit, dryRun. A provider error is a Measurement with phase kError; it is data,
// never an exception. Every measurement keeps the query as sent: it is the evidence of an abort.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/clock.h"
#include "manifests/types.h"

namespace sluice::analysis {

enum class AnalysisPhase { kPending, kRunning, kSuccessful, kFailed, kInconclusive, kError };
const char* phase_name(AnalysisPhase phase);  // "Pending", "Running", "Successful", ...
bool is_terminal(AnalysisPhase phase);

struct Measurement {
  AnalysisPhase phase = AnalysisPhase::kPending;  // Successful | Failed | Inconclusive | Error
  std::optional<double> value;                    // scalar result
  std::vector<double> values;                     // vector result (value unset)
  std::string query;    // the query / URL / command as sent, args substituted
  std::string message;  // error text, job output tail, judge classification
  TimePoint started_at{};
  TimePoint finished_at{};
  // What the provider learnt about the source beyond the value: the kafka provider sets the
  // topic and its partition count, which the controller compares with the consumers a rollout
  // may run (the ConsumersExceedPartitions warning). Not persisted: the next measurement brings
  // it again after a restart.
  std::string topic;
  std::optional<int> topic_partitions;
};

struct MetricResult {
  std::string name;
  std::string provider;  // "builtin", "prometheus", ...
  AnalysisPhase phase = AnalysisPhase::kPending;
  bool dry_run = false;
  int count = 0;
  int successful = 0;
  int failed = 0;
  int inconclusive = 0;
  int error = 0;
  int consecutive_error = 0;
  std::string message;                    // why the metric reached its phase, with the values
  std::vector<Measurement> measurements;  // most recent last; bounded (oldest dropped)
  // The conditions as judged, args substituted ("" = none): what a reader (the dashboard's
  // threshold line, evidence) compares the values with.
  std::string success_condition;
  std::string failure_condition;
};

struct AnalysisRunStatus;

// What the controller asks for: the templates already resolved from the ManifestSet.
struct AnalysisRunSpec {
  std::string name;  // unique per run, e.g. "orders-api-7-step-3"
  std::string rollout;
  int64_t stable_revision = 0;
  int64_t canary_revision = 0;
  std::string stable_version;
  std::string canary_version;
  std::vector<manifests::AnalysisTemplate> templates;
  std::vector<manifests::AnalysisArg> args;  // the Rollout's args, overriding template defaults
  bool background = false;  // canary background analysis: runs until terminated, never "done"
  // The earlier status of this very run (same name), persisted by the controller with the
  // rollout and handed back after a restart: the run continues from it (measurements, counts
  // and limits, the next measurement due after the last one) instead of starting from zero; a
  // run that had finished stays finished with its verdict.
  std::shared_ptr<const AnalysisRunStatus> resume;
};

struct AnalysisRunStatus {
  std::string name;
  int64_t revision = 0;  // the update (canary) revision the run judges; 0 when unknown
  AnalysisPhase phase = AnalysisPhase::kPending;
  std::string message;  // for Failed/Error/Inconclusive: the metric, values and limits that decided
  std::vector<MetricResult> metrics;
  TimePoint started_at{};
  std::optional<TimePoint> finished_at;
};

void to_json(nlohmann::json& j, const Measurement& m);
void to_json(nlohmann::json& j, const MetricResult& m);
void to_json(nlohmann::json& j, const AnalysisRunStatus& s);

// Runs analyses. Threading: called on the controller strand; measurements happen asynchronously;
// the listener is called (any thread) when a run's status changes.
class AnalysisRunner {
 public:
  virtual ~AnalysisRunner() = default;
  // Starts a run. Starting a name that already runs is a no-op (level-based callers).
  virtual void start(const AnalysisRunSpec& spec) = 0;
  // Stops a run; its last status stays readable until forget().
  virtual void terminate(const std::string& name) = 0;
  virtual void forget(const std::string& name) = 0;
  virtual std::optional<AnalysisRunStatus> status(const std::string& name) const = 0;

  using Listener = std::function<void(const std::string& rollout, const std::string& run)>;
  virtual void set_listener(Listener listener) = 0;
};

}  // namespace sluice::analysis
