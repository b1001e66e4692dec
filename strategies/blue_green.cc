// blueGreen: the new revision comes up as a preview next to the active one, is analysed, waits at
// the promotion gate, scales to full, takes over (deactivate old, then activate new: consumers
// never overlap), is analysed again, and the old one goes after scaleDownDelaySeconds.
#include "strategies/strategy_context.h"

namespace sluice::strategies::detail {

namespace {

const manifests::BlueGreenStrategy& bg_of(const Context& c) {
  return std::get<manifests::BlueGreenStrategy>(c.spec.strategy);
}

int preview_count(const Context& c) {
  const int p = bg_of(c).preview_replica_count;
  return p > 0 ? std::min(p, c.replicas()) : c.replicas();
}

// Returns false when the analysis blocks (running, paused, or it aborted the update).
bool gate_analysis(Context& c, const std::optional<manifests::RolloutAnalysis>& analysis,
                   AnalysisKind kind, const char* name) {
  RolloutStatus& s = c.status;
  if (!analysis || s.fast_track || s.promote_full) return true;
  const std::string k = c.key(name);
  const AnalysisObservation& v = c.analysis(k, kind, *analysis);
  switch (v.verdict) {
    case Verdict::kSuccessful:
      return true;
    case Verdict::kFailed:
    case Verdict::kError:
      c.abort("AnalysisFailed",
              fmt::format("{}-promotion analysis {} for revision {}: {}", name,
                          verdict_name(v.verdict), c.update(), v.message),
              k);
      return false;
    case Verdict::kInconclusive:
      s.inconclusive_pause = true;
      c.paused(fmt::format("{}-promotion analysis inconclusive ({}); promote to accept", name,
                           v.message));
      return false;
    case Verdict::kRunning:
      c.progressing(fmt::format("{}-promotion analysis running for revision {}", name, c.update()));
      return false;
  }
  return false;
}

void route_to_active(Context& c) {
  const RolloutStatus& s = c.status;
  const int64_t target = s.switch_stage != 0 ? s.switch_to : s.active_revision;
  c.decision.weights = {{target ? target : c.stable(), 100}};
}

}  // namespace

void decide_blue_green(Context& c) {
  const auto& bg = bg_of(c);
  RolloutStatus& s = c.status;
  const int64_t stable = c.stable();
  const int64_t update = c.update();
  const int R = c.replicas();
  c.decision.replicas[stable] = R;

  if (!s.promoted) {
    const int p = preview_count(c);
    c.decision.replicas[update] = p;
    c.decision.preview_revision = update;
    // After a superseded update that had already taken over, hand back to stable first.
    const bool active_ok = ensure_active(c, stable);
    route_to_active(c);
    if (!active_ok) {
      c.progressing(fmt::format("handing over back to revision {}", stable));
      return;
    }
    if (c.ready(update) < p) {
      c.progressing(fmt::format("preview revision {}: {}/{} ready", update, c.ready(update), p));
      return;
    }
    if (!s.preview_ready_at) s.preview_ready_at = c.now;
    if (!gate_analysis(c, bg.pre_promotion_analysis, AnalysisKind::kPrePromotion, "pre")) return;
    if (!s.fast_track && !s.promote_full && !s.promote_requested) {
      if (!bg.auto_promotion_enabled) {
        c.paused(fmt::format("preview revision {} ready; waiting for promote", update));
        return;
      }
      const TimePoint at = *s.preview_ready_at + bg.auto_promotion_seconds;
      if (c.now < at) {
        c.decision.requeue(at - c.now);
        c.paused(fmt::format("preview revision {} ready; auto-promotion at {}", update,
                             format_rfc3339(at)));
        return;
      }
    }
    if (!s.fast_track && !s.promote_full && !promotion_allowed(c)) return;
    if (c.hold) return;
    s.promoted = true;
    c.transition("PromotionStarted", fmt::format("promoting revision {}", update));
  }

  c.decision.replicas[update] = R;
  if (c.ready(update) < R) {
    route_to_active(c);
    c.progressing(
        fmt::format("scaling revision {} to full size: {}/{} ready", update, c.ready(update), R));
    return;
  }
  if (c.hold && s.active_revision != update && s.switch_stage == 0) {
    route_to_active(c);
    return;
  }
  const bool switched = ensure_active(c, update);
  if (s.aborted) return;  // a hook failed during the hand-over; decide() hands back
  route_to_active(c);
  if (!switched) {
    c.progressing(fmt::format("switching active revision {} -> {}", s.switch_from, update));
    return;
  }
  if (!gate_analysis(c, bg.post_promotion_analysis, AnalysisKind::kPostPromotion, "post")) return;
  if (c.hold) return;
  std::erase_if(s.scale_downs, [&](const PendingScaleDown& d) { return d.revision == stable; });
  s.scale_downs.push_back({stable, c.now + bg.scale_down_delay});
  c.decision.replicas.erase(stable);
  c.complete(
      fmt::format("revision {} is active and stable: {}/{} ready", update, c.ready(update), R));
}

void aborted_blue_green(Context& c) {
  const int64_t stable = c.stable();
  c.decision.replicas[stable] = c.replicas();
  // All traffic to stable at once; consumers hand back (deactivate new, activate stable).
  c.decision.weights = {{stable, 100}};
  ensure_active(c, stable);
}

}  // namespace sluice::strategies::detail
