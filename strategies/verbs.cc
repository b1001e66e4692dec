#include "strategies/verbs.h"

#include <fmt/format.h>

namespace sluice::strategies {

const char* operator_verb_name(OperatorVerb verb) {
  switch (verb) {
    case OperatorVerb::kPromote:
      return "promote";
    case OperatorVerb::kAbort:
      return "abort";
    case OperatorVerb::kRetry:
      return "retry";
    case OperatorVerb::kPause:
      return "pause";
    case OperatorVerb::kResume:
      return "resume";
  }
  return "unknown";
}

void begin_update(RolloutStatus& s, int64_t revision, bool fast_track, TimePoint now) {
  s.update_revision = revision;
  s.aborted = false;
  s.aborted_at.reset();
  s.current_step_index = 0;
  s.pause_started_at.reset();
  s.inconclusive_pause = false;
  s.promote_requested = false;
  s.promote_full = false;
  s.fast_track = fast_track;
  s.progress_at = now;
  s.deadline_exceeded = false;
  s.update_ready_seen = 0;
  s.canary_scale.reset();
  s.header_route.reset();
  s.promoted = false;
  s.preview_ready_at.reset();
  s.phase = Phase::kProgressing;
  s.message = fmt::format("rolling out revision {}", revision);
}

void mark_aborted(const manifests::RolloutSpec& spec, RolloutStatus& s, const std::string& message,
                  TimePoint now) {
  s.aborted = true;
  s.aborted_at = now;
  s.phase = Phase::kDegraded;
  s.message = message;
  s.pause_started_at.reset();
  s.inconclusive_pause = false;
  s.promote_requested = false;
  s.promote_full = false;
  s.deadline_exceeded = false;
  // Where the aborted revision keeps running for a while (abortScaleDownDelaySeconds), the delay
  // is a timestamp in status like every other wait.
  Duration delay{0};
  bool delayed = false;
  if (const auto* canary = std::get_if<manifests::CanaryStrategy>(&spec.strategy)) {
    delayed = canary->traffic_routing.has_value();
    delay = canary->abort_scale_down_delay;
  } else if (const auto* bg = std::get_if<manifests::BlueGreenStrategy>(&spec.strategy)) {
    delayed = true;
    delay = bg->abort_scale_down_delay;
  }
  if (delayed) {
    std::erase_if(s.scale_downs,
                  [&](const PendingScaleDown& d) { return d.revision == s.update_revision; });
    s.scale_downs.push_back({s.update_revision, now + delay});
  }
}

namespace {

Transition make_transition(std::string reason, std::string message, int64_t revision) {
  Transition t;
  t.reason = std::move(reason);
  t.message = std::move(message);
  t.revision = revision;
  return t;
}

Status precondition(const std::string& m) { return failed_precondition(m); }

}  // namespace

Result<VerbOutcome> apply_verb(const manifests::RolloutSpec& spec, const RolloutStatus& status,
                               OperatorVerb verb, bool full, const std::string& actor,
                               TimePoint now) {
  VerbOutcome out{status, {}};
  RolloutStatus& s = out.status;
  Transition& t = out.transition;
  t.revision = s.update_revision;
  const std::string who = actor.empty() ? "operator" : actor;
  switch (verb) {
    case OperatorVerb::kPromote: {
      if (!s.in_progress()) {
        return precondition(
            fmt::format("nothing to promote: revision {} is stable and no update "
                        "is in progress",
                        s.stable_revision));
      }
      if (s.aborted) return precondition("the update is aborted; use retry to start it again");
      if (full) {
        s.promote_full = true;
        s.pause_started_at.reset();
        s.inconclusive_pause = false;
        s.operator_paused = false;
        t = make_transition("PromotedFull",
                            fmt::format("{} promoted revision {} fully, skipping remaining steps",
                                        who, s.update_revision),
                            s.update_revision);
        break;
      }
      if (s.operator_paused)
        return precondition("the rollout is paused by an operator; use resume");
      if (s.phase != Phase::kPaused) {
        return precondition(
            fmt::format("promote continues past a pause or gate, but the rollout is {} ({})",
                        phase_name(s.phase), s.message));
      }
      if (std::holds_alternative<manifests::CanaryStrategy>(spec.strategy)) {
        s.inconclusive_pause = false;
        s.pause_started_at.reset();
        s.current_step_index += 1;
      } else if (std::holds_alternative<manifests::BlueGreenStrategy>(spec.strategy)) {
        if (s.inconclusive_pause) s.promote_full = true;  // accept the inconclusive analysis
        s.inconclusive_pause = false;
        s.promote_requested = true;
      } else {
        return precondition("a rolling update has no pause to promote past");
      }
      s.progress_at = now;
      t = make_transition("Promoted",
                          fmt::format("{} promoted revision {}", who, s.update_revision),
                          s.update_revision);
      break;
    }
    case OperatorVerb::kAbort:
      if (!s.in_progress()) {
        return precondition(
            fmt::format("nothing to abort: revision {} is stable", s.stable_revision));
      }
      if (s.aborted) return precondition("the update is already aborted");
      mark_aborted(spec, s,
                   fmt::format("aborted by {}: revision {} rolled back to stable revision {}", who,
                               s.update_revision, s.stable_revision),
                   now);
      t = make_transition("Aborted", s.message, s.update_revision);
      break;
    case OperatorVerb::kRetry: {
      if (!s.aborted)
        return precondition("retry restarts an aborted update, but nothing is aborted");
      const int attempt = s.attempt + 1;
      begin_update(s, s.update_revision, false, now);
      s.attempt = attempt;
      t = make_transition(
          "Retried",
          fmt::format("{} retried revision {} (attempt {})", who, s.update_revision, attempt + 1),
          s.update_revision);
      break;
    }
    case OperatorVerb::kPause:
      if (s.operator_paused) return precondition("the rollout is already paused");
      s.operator_paused = true;
      t = make_transition("Paused", fmt::format("paused by {}", who), s.update_revision);
      break;
    case OperatorVerb::kResume:
      if (!s.operator_paused) {
        if (spec.paused) {
          return precondition("the rollout is paused by spec.paused in Git; change the manifest");
        }
        return precondition("the rollout is not paused");
      }
      s.operator_paused = false;
      s.progress_at = now;
      t = make_transition("Resumed", fmt::format("resumed by {}", who), s.update_revision);
      break;
  }
  return out;
}

}  // namespace sluice::strategies
