// Names and JSON for the AnalysisRun types (api.md shows these shapes to users).
#include "healthcheck/analysis/analysis.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace sluice::analysis {

const char* phase_name(AnalysisPhase phase) {
  switch (phase) {
    case AnalysisPhase::kPending:
      return "Pending";
    case AnalysisPhase::kRunning:
      return "Running";
    case AnalysisPhase::kSuccessful:
      return "Successful";
    case AnalysisPhase::kFailed:
      return "Failed";
    case AnalysisPhase::kInconclusive:
      return "Inconclusive";
    case AnalysisPhase::kError:
      return "Error";
  }
  return "Unknown";
}

bool is_terminal(AnalysisPhase phase) {
  return phase == AnalysisPhase::kSuccessful || phase == AnalysisPhase::kFailed ||
         phase == AnalysisPhase::kInconclusive || phase == AnalysisPhase::kError;
}

namespace {
// JSON has no NaN/Inf: such values are written as strings so the evidence survives.
nlohmann::json number_json(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return v;
}
}  // namespace

void to_json(nlohmann::json& j, const Measurement& m) {
  j = nlohmann::json::object();
  j["phase"] = phase_name(m.phase);
  // A measurement without a scalar value carries a vector result (possibly empty).
  if (m.value) {
    j["value"] = number_json(*m.value);
  } else if (m.phase != AnalysisPhase::kError) {
    auto arr = nlohmann::json::array();
    for (double v : m.values) arr.push_back(number_json(v));
    j["values"] = std::move(arr);
  }
  j["query"] = m.query;
  if (!m.message.empty()) j["message"] = m.message;
  j["startedAt"] = format_rfc3339(m.started_at);
  j["finishedAt"] = format_rfc3339(m.finished_at);
  if (m.topic_partitions) {
    j["topic"] = m.topic;
    j["topicPartitions"] = *m.topic_partitions;
  }
}

void to_json(nlohmann::json& j, const MetricResult& m) {
  j = nlohmann::json::object();
  j["name"] = m.name;
  j["provider"] = m.provider;
  j["phase"] = phase_name(m.phase);
  j["dryRun"] = m.dry_run;
  j["count"] = m.count;
  j["successful"] = m.successful;
  j["failed"] = m.failed;
  j["inconclusive"] = m.inconclusive;
  j["error"] = m.error;
  j["consecutiveError"] = m.consecutive_error;
  j["message"] = m.message;
  j["successCondition"] = m.success_condition;
  j["failureCondition"] = m.failure_condition;
  j["measurements"] = m.measurements;
}

void to_json(nlohmann::json& j, const AnalysisRunStatus& s) {
  j = nlohmann::json::object();
  j["name"] = s.name;
  j["revision"] = s.revision;
  j["phase"] = phase_name(s.phase);
  j["message"] = s.message;
  j["metrics"] = s.metrics;
  j["startedAt"] = format_rfc3339(s.started_at);
  if (s.finished_at) j["finishedAt"] = format_rfc3339(*s.finished_at);
}

}  // namespace sluice::analysis
