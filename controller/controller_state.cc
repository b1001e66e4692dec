// RolloutState serialisation, recovery and snapshots.
#include <fmt/format.h>

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
  return {{"name", s.name},
          {"spec", spec_to_json(s.spec)},
          {"commit", s.commit},
          {"gitTemplate", git_template},
          {"nextRevision", s.next_revision},
          {"revisions", revisions},
          {"status", strategies::status_to_json(s.status)}};
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
  for (const auto& [name, state] : states_) {
    refresh_read_model(state);
    enqueue(name);
  }
  schedule_publish();
  return Status::ok();
}

}  // namespace sluice::controller
