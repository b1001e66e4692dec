#include "strategies/rollout_status.h"

#include "strategies/decision.h"

namespace sluice::strategies {

using nlohmann::json;

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kHealthy:
      return "Healthy";
    case Phase::kProgressing:
      return "Progressing";
    case Phase::kPaused:
      return "Paused";
    case Phase::kDegraded:
      return "Degraded";
  }
  return "Unknown";
}

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kRunning:
      return "Running";
    case Verdict::kSuccessful:
      return "Successful";
    case Verdict::kFailed:
      return "Failed";
    case Verdict::kInconclusive:
      return "Inconclusive";
    case Verdict::kError:
      return "Error";
  }
  return "Unknown";
}

const RevisionObservation& Observed::revision(int64_t rev) const {
  static const RevisionObservation kNone;
  auto it = revisions.find(rev);
  return it == revisions.end() ? kNone : it->second;
}

namespace {

Phase phase_from_name(const std::string& name) {
  if (name == "Healthy") return Phase::kHealthy;
  if (name == "Paused") return Phase::kPaused;
  if (name == "Degraded") return Phase::kDegraded;
  return Phase::kProgressing;
}

json optional_time(const std::optional<TimePoint>& t) {
  return t ? json(to_unix_ms(*t)) : json(nullptr);
}

std::optional<TimePoint> optional_time_from(const json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return from_unix_ms(j.at(key).get<int64_t>());
}

json string_match_to_json(const manifests::StringMatch& m) {
  json j = json::object();
  if (m.exact) j["exact"] = *m.exact;
  if (m.prefix) j["prefix"] = *m.prefix;
  if (m.regex) j["regex"] = *m.regex;
  return j;
}

manifests::StringMatch string_match_from_json(const json& j) {
  manifests::StringMatch m;
  if (j.contains("exact")) m.exact = j.at("exact").get<std::string>();
  if (j.contains("prefix")) m.prefix = j.at("prefix").get<std::string>();
  if (j.contains("regex")) m.regex = j.at("regex").get<std::string>();
  return m;
}

}  // namespace

json canary_scale_to_json(const manifests::SetCanaryScale& scale) {
  json j = json::object();
  if (scale.replicas) j["replicas"] = *scale.replicas;
  if (scale.weight) j["weight"] = *scale.weight;
  if (scale.match_traffic_weight) j["matchTrafficWeight"] = true;
  return j;
}

manifests::SetCanaryScale canary_scale_from_json(const json& j) {
  manifests::SetCanaryScale s;
  if (j.contains("replicas")) s.replicas = j.at("replicas").get<int>();
  if (j.contains("weight")) s.weight = j.at("weight").get<int>();
  s.match_traffic_weight = j.value("matchTrafficWeight", false);
  return s;
}

json header_route_to_json(const manifests::SetHeaderRoute& route) {
  json matches = json::array();
  for (const auto& m : route.match) {
    matches.push_back(
        {{"headerName", m.header_name}, {"headerValue", string_match_to_json(m.header_value)}});
  }
  return {{"name", route.name}, {"match", matches}};
}

manifests::SetHeaderRoute header_route_from_json(const json& j) {
  manifests::SetHeaderRoute r;
  r.name = j.value("name", "");
  for (const auto& m : j.value("match", json::array())) {
    r.match.push_back({m.value("headerName", ""),
                       string_match_from_json(m.value("headerValue", json::object()))});
  }
  return r;
}

json status_to_json(const RolloutStatus& s) {
  json replicas = json::array();
  for (const auto& [rev, n] : s.replicas) replicas.push_back({rev, n});
  json scale_downs = json::array();
  for (const auto& d : s.scale_downs) scale_downs.push_back({d.revision, to_unix_ms(d.at)});
  json hooks = json::object();
  for (const auto& [key, h] : s.hooks) hooks[key] = {{"ok", h.ok}, {"message", h.message}};
  json webhooks = json::object();
  for (const auto& [key, g] : s.webhooks) {
    webhooks[key] = {{"requested", g.requested}, {"answered", g.answered},
                     {"failed", g.failed},       {"lastOk", g.last_ok},
                     {"answeredAt", optional_time(g.answered_at)}, {"last", g.last}};
  }
  return {
      {"stableRevision", s.stable_revision},
      {"updateRevision", s.update_revision},
      {"phase", phase_name(s.phase)},
      {"aborted", s.aborted},
      {"message", s.message},
      {"abortedAt", optional_time(s.aborted_at)},
      {"currentStepIndex", s.current_step_index},
      {"pauseStartedAt", optional_time(s.pause_started_at)},
      {"inconclusivePause", s.inconclusive_pause},
      {"operatorPaused", s.operator_paused},
      {"promoteRequested", s.promote_requested},
      {"promoteFull", s.promote_full},
      {"fastTrack", s.fast_track},
      {"attempt", s.attempt},
      {"progressAt", to_unix_ms(s.progress_at)},
      {"deadlineExceeded", s.deadline_exceeded},
      {"updateReadySeen", s.update_ready_seen},
      {"replicas", replicas},
      {"scaleDowns", scale_downs},
      {"canaryScale", s.canary_scale ? canary_scale_to_json(*s.canary_scale) : json(nullptr)},
      {"headerRoute", s.header_route ? header_route_to_json(*s.header_route) : json(nullptr)},
      {"activeRevision", s.active_revision},
      {"promoted", s.promoted},
      {"previewReadyAt", optional_time(s.preview_ready_at)},
      {"switchSeq", s.switch_seq},
      {"switchStage", s.switch_stage},
      {"switchFrom", s.switch_from},
      {"switchTo", s.switch_to},
      {"hooks", hooks},
      {"webhooks", webhooks},
      {"postRolloutRevision", s.post_rollout_revision},
      {"postRolloutAttempt", s.post_rollout_attempt},
  };
}

Result<RolloutStatus> status_from_json(const json& j) {
  try {
    RolloutStatus s;
    s.stable_revision = j.at("stableRevision").get<int64_t>();
    s.update_revision = j.at("updateRevision").get<int64_t>();
    s.phase = phase_from_name(j.at("phase").get<std::string>());
    s.aborted = j.at("aborted").get<bool>();
    s.message = j.at("message").get<std::string>();
    s.aborted_at = optional_time_from(j, "abortedAt");
    s.current_step_index = j.at("currentStepIndex").get<int>();
    s.pause_started_at = optional_time_from(j, "pauseStartedAt");
    s.inconclusive_pause = j.at("inconclusivePause").get<bool>();
    s.operator_paused = j.at("operatorPaused").get<bool>();
    s.promote_requested = j.at("promoteRequested").get<bool>();
    s.promote_full = j.at("promoteFull").get<bool>();
    s.fast_track = j.at("fastTrack").get<bool>();
    s.attempt = j.at("attempt").get<int>();
    s.progress_at = from_unix_ms(j.at("progressAt").get<int64_t>());
    s.deadline_exceeded = j.at("deadlineExceeded").get<bool>();
    s.update_ready_seen = j.at("updateReadySeen").get<int>();
    for (const auto& e : j.at("replicas")) s.replicas[e.at(0).get<int64_t>()] = e.at(1).get<int>();
    for (const auto& e : j.at("scaleDowns")) {
      s.scale_downs.push_back({e.at(0).get<int64_t>(), from_unix_ms(e.at(1).get<int64_t>())});
    }
    if (!j.at("canaryScale").is_null())
      s.canary_scale = canary_scale_from_json(j.at("canaryScale"));
    if (!j.at("headerRoute").is_null())
      s.header_route = header_route_from_json(j.at("headerRoute"));
    s.active_revision = j.at("activeRevision").get<int64_t>();
    s.promoted = j.at("promoted").get<bool>();
    s.preview_ready_at = optional_time_from(j, "previewReadyAt");
    s.switch_seq = j.at("switchSeq").get<int>();
    s.switch_stage = j.at("switchStage").get<int>();
    s.switch_from = j.at("switchFrom").get<int64_t>();
    s.switch_to = j.at("switchTo").get<int64_t>();
    for (const auto& [key, h] : j.at("hooks").items()) {
      s.hooks[key] = {h.at("ok").get<bool>(), h.at("message").get<std::string>()};
    }
    // Absent in records written before gate webhooks existed.
    const json webhooks = j.value("webhooks", json::object());
    for (const auto& [key, g] : webhooks.items()) {
      WebhookGate& gate = s.webhooks[key];
      gate.requested = g.at("requested").get<int>();
      gate.answered = g.at("answered").get<int>();
      gate.failed = g.at("failed").get<int>();
      gate.last_ok = g.at("lastOk").get<bool>();
      gate.answered_at = optional_time_from(g, "answeredAt");
      gate.last = g.at("last").get<std::string>();
    }
    s.post_rollout_revision = j.value("postRolloutRevision", int64_t{0});
    s.post_rollout_attempt = j.value("postRolloutAttempt", 0);
    return s;
  } catch (const json::exception& e) {
    return data_loss(std::string("rollout status record is malformed: ") + e.what());
  }
}

}  // namespace sluice::strategies
