// RolloutState serialisation, recovery and snapshots.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "controller/controller.h"
#include "controller/spec_json.h"
#include "strategies/rollout_status.h"

namespace sluice::controller {

using nlohmann::json;

bool RolloutState::operator==(const RolloutState& o) const {
  return rollout_state_to_json(*this) == rollout_state_to_json(o);
}

const RevisionRecord* RolloutState::revision(int64_t n) const {
  for (const auto& r : revisions) {
    if (r.number == n) return &r;
  }
  return nullptr;
}

namespace {

namespace an = analysis;

json git_write_back_to_json(const std::optional<GitWriteBackRecord>& r) {
  if (!r) return nullptr;
  return {{"revision", r->revision},
          {"commit", r->commit},
          {"reason", r->reason},
          {"requestedAt", to_unix_ms(r->requested_at)},
          {"result", r->result},
          {"finishedAt", to_unix_ms(r->finished_at)},
          {"revertCommit", r->revert_commit},
          {"message", r->message}};
}

std::optional<GitWriteBackRecord> git_write_back_from_json(const json& j) {
  if (j.is_null()) return std::nullopt;
  GitWriteBackRecord r;
  r.revision = j.at("revision").get<int64_t>();
  r.commit = j.at("commit").get<std::string>();
  r.reason = j.at("reason").get<std::string>();
  r.requested_at = from_unix_ms(j.at("requestedAt").get<int64_t>());
  r.result = j.at("result").get<std::string>();
  r.finished_at = from_unix_ms(j.at("finishedAt").get<int64_t>());
  r.revert_commit = j.at("revertCommit").get<std::string>();
  r.message = j.at("message").get<std::string>();
  return r;
}

an::AnalysisPhase analysis_phase_of(const std::string& name) {
  for (auto p : {an::AnalysisPhase::kPending, an::AnalysisPhase::kRunning,
                 an::AnalysisPhase::kSuccessful, an::AnalysisPhase::kFailed,
                 an::AnalysisPhase::kInconclusive, an::AnalysisPhase::kError}) {
    if (name == an::phase_name(p)) return p;
  }
  return an::AnalysisPhase::kError;
}

// Journal form of an analysis run: times as unix milliseconds, values as numbers (NaN and Inf
// as strings, since JSON has neither).
json number_to_json(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return v;
}

double number_from_json(const json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "+Inf") return std::numeric_limits<double>::infinity();
    if (s == "-Inf") return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  return j.get<double>();
}

json run_to_state_json(const an::AnalysisRunStatus& run) {
  json metrics = json::array();
  for (const auto& m : run.metrics) {
    json measurements = json::array();
    for (const auto& x : m.measurements) {
      json values = json::array();
      for (double v : x.values) values.push_back(number_to_json(v));
      measurements.push_back({{"phase", an::phase_name(x.phase)},
                              {"value", x.value ? number_to_json(*x.value) : json(nullptr)},
                              {"values", values},
                              {"query", x.query},
                              {"message", x.message},
                              {"startedAt", to_unix_ms(x.started_at)},
                              {"finishedAt", to_unix_ms(x.finished_at)}});
    }
    metrics.push_back({{"name", m.name},
                       {"provider", m.provider},
                       {"phase", an::phase_name(m.phase)},
                       {"dryRun", m.dry_run},
                       {"count", m.count},
                       {"successful", m.successful},
                       {"failed", m.failed},
                       {"inconclusive", m.inconclusive},
                       {"error", m.error},
                       {"consecutiveError", m.consecutive_error},
                       {"message", m.message},
                       {"successCondition", m.success_condition},
                       {"failureCondition", m.failure_condition},
                       {"measurements", measurements}});
  }
  return {{"name", run.name},
          {"revision", run.revision},
          {"phase", an::phase_name(run.phase)},
          {"message", run.message},
          {"metrics", metrics},
          {"startedAt", to_unix_ms(run.started_at)},
          {"finishedAt", run.finished_at ? json(to_unix_ms(*run.finished_at)) : json(nullptr)}};
}

an::AnalysisRunStatus run_from_state_json(const json& j) {
  an::AnalysisRunStatus run;
  run.name = j.at("name").get<std::string>();
  // Added later than the rest: a journal written before it has none.
  run.revision = j.value("revision", int64_t{0});
  run.phase = analysis_phase_of(j.at("phase").get<std::string>());
  run.message = j.at("message").get<std::string>();
  run.started_at = from_unix_ms(j.at("startedAt").get<int64_t>());
  if (!j.at("finishedAt").is_null()) run.finished_at = from_unix_ms(j.at("finishedAt").get<int64_t>());
  for (const auto& mj : j.at("metrics")) {
    an::MetricResult m;
    m.name = mj.at("name").get<std::string>();
    m.provider = mj.at("provider").get<std::string>();
    m.phase = analysis_phase_of(mj.at("phase").get<std::string>());
    m.dry_run = mj.at("dryRun").get<bool>();
    m.count = mj.at("count").get<int>();
    m.successful = mj.at("successful").get<int>();
    m.failed = mj.at("failed").get<int>();
    m.inconclusive = mj.at("inconclusive").get<int>();
    m.error = mj.at("error").get<int>();
    m.consecutive_error = mj.at("consecutiveError").get<int>();
    m.message = mj.at("message").get<std::string>();
    m.success_condition = mj.value("successCondition", std::string());
    m.failure_condition = mj.value("failureCondition", std::string());
    for (const auto& xj : mj.at("measurements")) {
      an::Measurement x;
      x.phase = analysis_phase_of(xj.at("phase").get<std::string>());
      if (!xj.at("value").is_null()) x.value = number_from_json(xj.at("value"));
      for (const auto& v : xj.at("values")) x.values.push_back(number_from_json(v));
      x.query = xj.at("query").get<std::string>();
      x.message = xj.at("message").get<std::string>();
      x.started_at = from_unix_ms(xj.at("startedAt").get<int64_t>());
      x.finished_at = from_unix_ms(xj.at("finishedAt").get<int64_t>());
      m.measurements.push_back(std::move(x));
    }
    run.metrics.push_back(std::move(m));
  }
  return run;
}

json webhook_call_to_json(const WebhookCallRecord& r) {
  return {{"key", r.key},           {"name", r.name},
          {"type", r.type},         {"revision", r.revision},
          {"at", to_unix_ms(r.at)}, {"durationMs", r.duration_ms},
          {"status", r.status},     {"ok", r.ok},
          {"body", r.body},         {"error", r.error}};
}

WebhookCallRecord webhook_call_from_json(const json& j) {
  WebhookCallRecord r;
  r.key = j.at("key").get<std::string>();
  r.name = j.at("name").get<std::string>();
  r.type = j.at("type").get<std::string>();
  r.revision = j.at("revision").get<int64_t>();
  r.at = from_unix_ms(j.at("at").get<int64_t>());
  r.duration_ms = j.at("durationMs").get<int64_t>();
  r.status = j.at("status").get<int>();
  r.ok = j.at("ok").get<bool>();
  r.body = j.at("body").get<std::string>();
  r.error = j.at("error").get<std::string>();
  return r;
}

}  // namespace

json rollout_state_to_json(const RolloutState& s) {
  json revisions = json::array();
  for (const auto& r : s.revisions) {
    revisions.push_back({{"number", r.number},
                         {"spec", spec_to_json(r.spec)},
                         {"commit", r.commit},
                         {"author", r.author},
                         {"created", to_unix_ms(r.created)},
                         {"result", r.result},
                         {"reason", r.reason}});
  }
  json git_template = nullptr;
  if (s.git_template) {
    manifests::RolloutSpec holder;
    holder.template_ = *s.git_template;
    git_template = spec_to_json(holder).at("template");
  }
  json runs = json::array();
  for (const auto& run : s.analysis_runs) runs.push_back(run_to_state_json(run));
  json webhook_calls = json::array();
  for (const auto& call : s.webhook_calls) webhook_calls.push_back(webhook_call_to_json(call));
  return {{"name", s.name},
          {"spec", spec_to_json(s.spec)},
          {"commit", s.commit},
          {"gitTemplate", git_template},
          {"nextRevision", s.next_revision},
          {"revisions", revisions},
          {"status", strategies::status_to_json(s.status)},
          {"analysisRuns", runs},
          {"undoNote", s.undo_note},
          {"webhookCalls", webhook_calls},
          {"gitWriteBack", git_write_back_to_json(s.git_write_back)}};
}

Result<RolloutState> rollout_state_from_json(const json& j) {
  try {
    RolloutState s;
    s.name = j.at("name").get<std::string>();
    s.spec = spec_from_json(j.at("spec"));
    s.commit = j.at("commit").get<std::string>();
    if (!j.at("gitTemplate").is_null()) {
      json holder = spec_to_json(manifests::RolloutSpec{});
      holder["template"] = j.at("gitTemplate");
      s.git_template = spec_from_json(holder).template_;
    }
    s.next_revision = j.at("nextRevision").get<int64_t>();
    for (const auto& r : j.at("revisions")) {
      RevisionRecord rec;
      rec.number = r.at("number").get<int64_t>();
      rec.spec = spec_from_json(r.at("spec"));
      rec.commit = r.at("commit").get<std::string>();
      rec.author = r.at("author").get<std::string>();
      rec.created = from_unix_ms(r.at("created").get<int64_t>());
      rec.result = r.at("result").get<std::string>();
      rec.reason = r.at("reason").get<std::string>();
      s.revisions.push_back(std::move(rec));
    }
    auto status = strategies::status_from_json(j.at("status"));
    if (!status) return status.status();
    s.status = std::move(status).value();
    // Records written before analysis runs were persisted have none.
    for (const auto& run : j.value("analysisRuns", json::array()))
      s.analysis_runs.push_back(run_from_state_json(run));
    s.undo_note = j.value("undoNote", std::string());  // absent before undo notes
    for (const auto& call : j.value("webhookCalls", json::array()))  // absent before webhooks
      s.webhook_calls.push_back(webhook_call_from_json(call));
    s.git_write_back = git_write_back_from_json(j.value("gitWriteBack", json()));  // issue 21
    return s;
  } catch (const json::exception& e) {
    return data_loss(fmt::format("rollout state record is malformed: {}", e.what()));
  }
}

json Controller::snapshot() const {
  json rollouts = json::object();
  for (const auto& [name, state] : states_) rollouts[name] = rollout_state_to_json(state);
  json events = json::array();
  const size_t keep = std::min<size_t>(events_.size(), 1000);
  for (size_t i = events_.size() - keep; i < events_.size(); ++i) events.push_back(events_[i]);
  return {{"v", 1}, {"rollouts", rollouts}, {"nextEventId", next_event_id_}, {"events", events}};
}

Status Controller::recover(const json* snapshot, const std::vector<json>& records) {
  states_.clear();
  live_.clear();
  events_.clear();
  rollout_json_.clear();
  history_json_.clear();
  next_event_id_ = 1;
  try {
    if (snapshot != nullptr) {
      for (const auto& [name, value] : snapshot->at("rollouts").items()) {
        auto state = rollout_state_from_json(value);
        if (!state) return state.status();
        states_[name] = std::move(state).value();
      }
      next_event_id_ = snapshot->at("nextEventId").get<uint64_t>();
      for (const auto& e : snapshot->value("events", json::array())) events_.push_back(e);
    }
    // Every state record holds the rollout's whole state, so only the last record about each
    // rollout (its state, or its deletion) decides what survives; earlier ones are superseded
    // and need not be decoded. This keeps replay linear in the records with one decode per
    // rollout (records are still checked for their shape: name, event id).
    std::map<std::string, size_t> last_about;  // rollout -> index of its last state/deletion
    std::vector<size_t> with_event;
    for (size_t i = 0; i < records.size(); ++i) {
      const json& record = records[i];
      if (record.contains("event") && !record.at("event").is_null()) {
        const json& event = record.at("event");
        next_event_id_ = std::max(next_event_id_, event.at("id").get<uint64_t>() + 1);
        with_event.push_back(i);
      }
      if (record.contains("deleted")) {
        last_about[record.at("deleted").get<std::string>()] = i;
      } else if (record.contains("state")) {
        last_about[record.at("state").at("name").get<std::string>()] = i;
      }
    }
    // Only the newest event_limit_ events are kept in memory (the journal keeps all).
    const size_t skip = with_event.size() > event_limit_ ? with_event.size() - event_limit_ : 0;
    for (size_t k = skip; k < with_event.size(); ++k) {
      events_.push_back(records[with_event[k]].at("event"));
    }
    for (const auto& [name, index] : last_about) {
      const json& record = records[index];
      if (record.contains("deleted")) {
        states_.erase(name);
        continue;
      }
      auto state = rollout_state_from_json(record.at("state"));
      if (!state) return state.status();
      states_[name] = std::move(state).value();
    }
  } catch (const json::exception& e) {
    return data_loss(fmt::format("journal record is malformed: {}", e.what()));
  }
  if (events_.size() > event_limit_) {
    events_.erase(events_.begin(), events_.end() - static_cast<std::ptrdiff_t>(event_limit_));
  }
  // Ids below the sink's durable ceiling may have been handed out (and streamed) by records that
  // a repair or a torn tail cut off: go on above them.
  reserved_event_ids_ = deps_.sink.event_id_ceiling();
  next_event_id_ = std::max(next_event_id_, reserved_event_ids_);
  stop_unknown_instances();
  for (const auto& [name, state] : states_) {
    refresh_read_model(state);
    enqueue(name);
  }
  schedule_publish();
  return Status::ok();
}

}  // namespace sluice::controller
