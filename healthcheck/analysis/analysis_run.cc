#include "healthcheck/analysis/analysis_run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <type_traits>
#include <variant>

namespace sluice::analysis {

namespace {

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string format_number(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string format_values(const Measurement& m) {
  if (m.value) return format_number(*m.value);
  std::string out = "[";
  for (size_t i = 0; i < m.values.size(); ++i) {
    if (i) out += ", ";
    if (i == 8) {
      out += "...";
      break;
    }
    out += format_number(m.values[i]);
  }
  return out + "]";
}

// Worse phases win when a run combines its metrics.
int severity(AnalysisPhase p) {
  switch (p) {
    case AnalysisPhase::kFailed:
      return 4;
    case AnalysisPhase::kError:
      return 3;
    case AnalysisPhase::kInconclusive:
      return 2;
    case AnalysisPhase::kSuccessful:
      return 1;
    default:
      return 0;
  }
}

}  // namespace

Result<Vars> build_vars(const AnalysisRunSpec& spec) {
  Vars vars;
  std::map<std::string, std::optional<std::string>> args;
  for (const auto& t : spec.templates) {
    for (const auto& a : t.spec.args) {
      auto& slot = args[a.name];
      if (a.value) slot = a.value;
    }
  }
  for (const auto& a : spec.args) args[a.name] = a.value;
  for (const auto& [name, value] : args) {
    if (!value) return invalid_argument("args." + name + " has no value (the Rollout must set it)");
    vars["args." + name] = *value;
  }
  vars["rollout"] = spec.rollout;
  vars["version.stable"] = spec.stable_version;
  vars["version.canary"] = spec.canary_version;
  vars["revision.stable"] = std::to_string(spec.stable_revision);
  vars["revision.canary"] = std::to_string(spec.canary_revision);
  return vars;
}

Result<std::string> substitute(const std::string& text, const Vars& vars) {
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t open = text.find("{{", pos);
    if (open == std::string::npos) {
      out.append(text, pos, std::string::npos);
      return out;
    }
    const size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      return invalid_argument("unterminated '{{' at offset " + std::to_string(open) + " in \"" +
                              text + "\"");
    }
    out.append(text, pos, open - pos);
    const std::string name = trim(text.substr(open + 2, close - open - 2));
    auto it = vars.find(name);
    if (it == vars.end()) return invalid_argument("unknown variable {{" + name + "}}");
    out += it->second;
    pos = close + 2;
  }
}

Result<manifests::Metric> substitute_metric(const manifests::Metric& metric, const Vars& vars) {
  manifests::Metric out = metric;
  Status error;
  auto sub = [&](std::string& s) {
    if (!error.is_ok()) return;
    auto r = substitute(s, vars);
    if (!r) {
      error = Status(r.status().code(), "metric " + metric.name + ": " + r.status().message());
      return;
    }
    s = std::move(r).value();
  };
  sub(out.success_condition);
  sub(out.failure_condition);
  std::visit(
      [&](auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, manifests::BuiltinMetric>) {
          sub(p.version);
        } else if constexpr (std::is_same_v<T, manifests::PrometheusMetric>) {
          sub(p.address);
          sub(p.query);
        } else if constexpr (std::is_same_v<T, manifests::ScrapeMetric>) {
          sub(p.metric);
          sub(p.version);
          sub(p.path);
        } else if constexpr (std::is_same_v<T, manifests::WebMetric>) {
          sub(p.url);
          sub(p.json_path);
          for (auto& h : p.headers) sub(h.value);
          if (p.body) sub(*p.body);
        } else if constexpr (std::is_same_v<T, manifests::JobMetric>) {
          for (auto& a : p.command) sub(a);
        } else if constexpr (std::is_same_v<T, manifests::RabbitmqMetric>) {
          sub(p.url);
          sub(p.vhost);
          sub(p.queue);
        } else if constexpr (std::is_same_v<T, manifests::KafkaMetric>) {
          sub(p.bootstrap_servers);
          sub(p.consumer_group);
          sub(p.topic);
        } else if constexpr (std::is_same_v<T, manifests::JudgeMetric>) {
          sub(p.metric);
        }
      },
      out.provider);
  if (!error.is_ok()) return error;
  return out;
}

Measurement assess_measurement(const ResolvedMetric& metric, Measurement m) {
  if (m.phase == AnalysisPhase::kError) return m;
  const bool has_success = metric.success.has_value();
  const bool has_failure = metric.failure.has_value();
  if (!has_success && !has_failure) {
    // No conditions: the provider's verdict (job exit code, judge class), else Successful.
    if (m.phase == AnalysisPhase::kPending || m.phase == AnalysisPhase::kRunning) {
      m.phase = AnalysisPhase::kSuccessful;
    }
    return m;
  }
  const bool is_vector = !m.value.has_value();
  const std::vector<double> scalar =
      m.value ? std::vector<double>{*m.value} : std::vector<double>{};
  const std::vector<double>& input = is_vector ? m.values : scalar;
  bool success = false, failure = false;
  auto eval = [&](const manifests::Condition& c, const char* which, bool& out) {
    auto r = c.evaluate(input, is_vector);
    if (!r) {
      m.phase = AnalysisPhase::kError;
      m.message = std::string(which) + " \"" + c.text() + "\" on " + format_values(m) + ": " +
                  r.status().message();
      return false;
    }
    out = *r;
    return true;
  };
  if (has_success && !eval(*metric.success, "successCondition", success)) return m;
  if (has_failure && !eval(*metric.failure, "failureCondition", failure)) return m;
  if (has_success && !has_failure) failure = !success;
  if (!has_success && has_failure) success = !failure;
  if (failure) {
    m.phase = AnalysisPhase::kFailed;
  } else if (!success) {
    m.phase = AnalysisPhase::kInconclusive;
  } else {
    m.phase = AnalysisPhase::kSuccessful;
  }
  return m;
}

AnalysisRunState::AnalysisRunState(const AnalysisRunSpec& spec, TimePoint now) {
  status_.name = spec.name;
  status_.revision = spec.canary_revision;
  status_.started_at = now;
  status_.phase = AnalysisPhase::kRunning;
  auto fail = [&](const std::string& message) {
    status_.phase = AnalysisPhase::kError;
    status_.message = message;
    status_.finished_at = now;
  };
  auto vars = build_vars(spec);
  if (!vars) {
    fail(vars.status().message());
    return;
  }
  for (const auto& t : spec.templates) {
    for (const auto& raw : t.spec.metrics) {
      MetricResult result;
      result.name = raw.name;
      result.provider = manifests::provider_name(raw.provider);
      result.dry_run = raw.dry_run;
      result.phase = AnalysisPhase::kPending;
      status_.metrics.push_back(result);
      auto m = substitute_metric(raw, *vars);
      if (!m) {
        fail(m.status().message());
        return;
      }
      ResolvedMetric rm;
      rm.metric = std::move(m).value();
      for (auto [text, slot, which] :
           {std::tuple{&rm.metric.success_condition, &rm.success, "successCondition"},
            std::tuple{&rm.metric.failure_condition, &rm.failure, "failureCondition"}}) {
        if (text->empty()) continue;
        auto c = manifests::Condition::parse(*text);
        if (!c) {
          fail("metric " + raw.name + ": " + which + " \"" + *text + "\": " + c.status().message());
          return;
        }
        *slot = std::move(c).value();
      }
      status_.metrics.back().success_condition = rm.metric.success_condition;
      status_.metrics.back().failure_condition = rm.metric.failure_condition;
      metrics_.push_back(std::move(rm));
      tracks_.push_back(Track{false, now + raw.initial_delay});
    }
  }
  if (metrics_.empty()) fail("the analysis templates define no metrics");
  if (spec.resume && spec.resume->name == spec.name && !done()) resume_from(*spec.resume);
}

void AnalysisRunState::resume_from(const AnalysisRunStatus& earlier) {
  status_.started_at = earlier.started_at;
  for (size_t i = 0; i < metrics_.size(); ++i) {
    MetricResult& now = status_.metrics[i];
    for (const MetricResult& was : earlier.metrics) {
      if (was.name != now.name) continue;
      now.phase = was.phase;
      now.count = was.count;
      now.successful = was.successful;
      now.failed = was.failed;
      now.inconclusive = was.inconclusive;
      now.error = was.error;
      now.consecutive_error = was.consecutive_error;
      now.message = was.message;
      now.measurements = was.measurements;
      // A measurement in flight at the restart is lost: the metric is measured again when due.
      const manifests::Metric& m = metrics_[i].metric;
      tracks_[i].next_due =
          was.measurements.empty()
              ? earlier.started_at + m.initial_delay
              : was.measurements.back().finished_at + m.interval.value_or(Duration{0});
      break;
    }
  }
  if (is_terminal(earlier.phase)) {
    status_.phase = earlier.phase;
    status_.message = earlier.message;
    status_.finished_at = earlier.finished_at;
  }
}

std::vector<size_t> AnalysisRunState::due(TimePoint now) const {
  std::vector<size_t> out;
  if (done()) return out;
  for (size_t i = 0; i < metrics_.size(); ++i) {
    if (is_terminal(status_.metrics[i].phase) || tracks_[i].in_flight) continue;
    if (tracks_[i].next_due <= now) out.push_back(i);
  }
  return out;
}

std::optional<TimePoint> AnalysisRunState::next_due() const {
  std::optional<TimePoint> best;
  if (done()) return best;
  for (size_t i = 0; i < metrics_.size(); ++i) {
    if (is_terminal(status_.metrics[i].phase) || tracks_[i].in_flight) continue;
    if (!best || tracks_[i].next_due < *best) best = tracks_[i].next_due;
  }
  return best;
}

void AnalysisRunState::begin(size_t index, TimePoint /*now*/) {
  if (index >= metrics_.size() || done()) return;
  tracks_[index].in_flight = true;
  if (status_.metrics[index].phase == AnalysisPhase::kPending) {
    status_.metrics[index].phase = AnalysisPhase::kRunning;
  }
}

void AnalysisRunState::complete(size_t index, Measurement m, TimePoint now) {
  if (index >= metrics_.size() || done() || !tracks_[index].in_flight) return;
  tracks_[index].in_flight = false;
  const ResolvedMetric& metric = metrics_[index];
  MetricResult& r = status_.metrics[index];
  if (m.finished_at == TimePoint{}) m.finished_at = now;
  m = assess_measurement(metric, std::move(m));
  ++r.count;
  switch (m.phase) {
    case AnalysisPhase::kSuccessful:
      ++r.successful;
      break;
    case AnalysisPhase::kFailed:
      ++r.failed;
      break;
    case AnalysisPhase::kInconclusive:
      ++r.inconclusive;
      break;
    default:
      m.phase = AnalysisPhase::kError;
      ++r.error;
      break;
  }
  r.consecutive_error = m.phase == AnalysisPhase::kError ? r.consecutive_error + 1 : 0;
  const bool critical_judge_failed =
      m.phase == AnalysisPhase::kFailed &&
      std::holds_alternative<manifests::JudgeMetric>(metric.metric.provider) &&
      std::get<manifests::JudgeMetric>(metric.metric.provider).critical;
  r.measurements.push_back(std::move(m));
  if (r.measurements.size() > kMaxMeasurementsPerMetric) {
    r.measurements.erase(r.measurements.begin(),
                         r.measurements.end() - static_cast<long>(kMaxMeasurementsPerMetric));
  }
  const Duration interval = metric.metric.interval.value_or(Duration{0});
  tracks_[index].next_due = now + interval;
  if (critical_judge_failed) {
    r.phase = AnalysisPhase::kFailed;
    r.message = "critical judge metric \"" + r.name + "\": " + r.measurements.back().message;
  } else {
    assess_metric(index, false);
  }
  assess_run(now, false);
}

void AnalysisRunState::terminate(TimePoint now) {
  if (done()) return;
  for (size_t i = 0; i < metrics_.size(); ++i) {
    tracks_[i].in_flight = false;
    assess_metric(i, true);
  }
  assess_run(now, true);
}

void AnalysisRunState::assess_metric(size_t index, bool terminating) {
  const manifests::Metric& metric = metrics_[index].metric;
  MetricResult& r = status_.metrics[index];
  if (is_terminal(r.phase)) return;
  const std::string last =
      r.measurements.empty() ? std::string() : format_values(r.measurements.back());
  const std::string& last_message =
      r.measurements.empty() ? std::string() : r.measurements.back().message;
  auto decide = [&](AnalysisPhase phase, std::string message) {
    r.phase = phase;
    r.message = std::move(message);
  };
  if (r.count == 0) {
    if (terminating) decide(AnalysisPhase::kSuccessful, "terminated before its first measurement");
    return;
  }
  const std::string name = "metric \"" + r.name + "\"";
  if (metric.failure_limit >= 0 && r.failed > metric.failure_limit) {
    std::string cond = !metric.success_condition.empty()
                           ? "successCondition \"" + metric.success_condition + "\""
                           : "failureCondition \"" + metric.failure_condition + "\"";
    if (metric.success_condition.empty() && metric.failure_condition.empty()) {
      cond = last_message;
    }
    return decide(AnalysisPhase::kFailed, name + " failed " + std::to_string(r.failed) +
                                              " time(s), more than failureLimit " +
                                              std::to_string(metric.failure_limit) +
                                              "; last value " + last + " (" + cond + ")");
  }
  if (r.inconclusive > metric.inconclusive_limit) {
    return decide(AnalysisPhase::kInconclusive,
                  name + " inconclusive " + std::to_string(r.inconclusive) +
                      " time(s), more than inconclusiveLimit " +
                      std::to_string(metric.inconclusive_limit) + "; last value " + last +
                      " (successCondition \"" + metric.success_condition +
                      "\", failureCondition \"" + metric.failure_condition + "\")");
  }
  if (metric.consecutive_error_limit >= 0 && r.consecutive_error > metric.consecutive_error_limit) {
    return decide(AnalysisPhase::kError,
                  name + " had " + std::to_string(r.consecutive_error) +
                      " consecutive errors, more than consecutiveErrorLimit " +
                      std::to_string(metric.consecutive_error_limit) +
                      "; last error: " + last_message);
  }
  const std::optional<int> effective_count =
      metric.count ? metric.count : (metric.interval ? std::nullopt : std::optional<int>(1));
  if (effective_count && r.count >= *effective_count) {
    return decide(AnalysisPhase::kSuccessful, name + " completed " + std::to_string(r.count) +
                                                  " measurement(s); last value " + last);
  }
  if (terminating) {
    return decide(AnalysisPhase::kSuccessful,
                  name + " terminated after " + std::to_string(r.count) + " measurement(s)");
  }
  r.phase = AnalysisPhase::kRunning;
}

void AnalysisRunState::assess_run(TimePoint now, bool terminating) {
  bool all_done = true;
  bool any_bad = false;
  const MetricResult* worst = nullptr;
  for (const MetricResult& r : status_.metrics) {
    if (!is_terminal(r.phase)) {
      all_done = false;
      continue;
    }
    if (r.dry_run) continue;
    if (r.phase != AnalysisPhase::kSuccessful) any_bad = true;
    if (!worst || severity(r.phase) > severity(worst->phase)) worst = &r;
  }
  if (!all_done && !any_bad && !terminating) return;
  if (any_bad && !all_done) {
    // Argo terminates the rest of the run as soon as one metric decided against it.
    for (size_t i = 0; i < metrics_.size(); ++i) {
      tracks_[i].in_flight = false;
      assess_metric(i, true);
    }
  }
  status_.phase = worst ? worst->phase : AnalysisPhase::kSuccessful;
  status_.message = (worst && worst->phase != AnalysisPhase::kSuccessful) ? worst->message : "";
  if (status_.phase == AnalysisPhase::kSuccessful && terminating && !all_done) {
    status_.message = "terminated";
  }
  status_.finished_at = now;
}

}  // namespace sluice::analysis
