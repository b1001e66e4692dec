// canary: steps (setWeight, pause, setCanaryScale, analysis, setHeaderRoute), background
// analysis, and the final promotion. Without trafficRouting the weight is the share of ready
// instances and the total never exceeds replicas + maxSurge (Argo #1707); with trafficRouting the
// router sets the weight and the canary's size follows setCanaryScale.
#include "strategies/strategy_context.h"

namespace sluice::strategies::detail {

namespace {

struct StepLevels {
  int weight = 0;  // the traffic weight the steps ask for
  std::optional<manifests::SetCanaryScale> scale;
  std::optional<manifests::SetHeaderRoute> header_route;
};

StepLevels levels_at(const manifests::CanaryStrategy& canary, int index) {
  StepLevels l;
  const int last = std::min<int>(index, static_cast<int>(canary.steps.size()) - 1);
  for (int i = 0; i <= last; ++i) {
    const auto& step = canary.steps[i];
    if (const auto* w = std::get_if<manifests::SetWeightStep>(&step)) l.weight = w->weight;
    if (const auto* sc = std::get_if<manifests::SetCanaryScale>(&step)) {
      if (sc->match_traffic_weight) {
        l.scale.reset();
      } else {
        l.scale = *sc;
      }
    }
    if (const auto* hr = std::get_if<manifests::SetHeaderRoute>(&step)) {
      if (hr->match.empty()) {
        l.header_route.reset();
      } else {
        l.header_route = *hr;
      }
    }
  }
  return l;
}

std::string describe(const manifests::CanaryStep& step) {
  return std::visit(
      [](const auto& s) -> std::string {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, manifests::SetWeightStep>) {
          return fmt::format("setWeight {}", s.weight);
        } else if constexpr (std::is_same_v<T, manifests::PauseStep>) {
          return s.duration ? fmt::format("pause {}ms", s.duration->count()) : "pause";
        } else if constexpr (std::is_same_v<T, manifests::SetCanaryScale>) {
          return "setCanaryScale";
        } else if constexpr (std::is_same_v<T, manifests::RolloutAnalysis>) {
          return "analysis";
        } else {
          return fmt::format("setHeaderRoute {}", s.name);
        }
      },
      step);
}

int applied_weight(const Context& c, int64_t rev) {
  auto it = c.observed.applied_weights.find(rev);
  return it == c.observed.applied_weights.end() ? 0 : it->second;
}

// Sets the levels for a weight and reports whether they are reached (instances ready, weight
// applied by the router).
bool set_levels(Context& c, const manifests::CanaryStrategy& canary, int weight,
                const std::optional<manifests::SetCanaryScale>& scale,
                const std::optional<manifests::SetHeaderRoute>& header_route) {
  const int64_t stable = c.stable();
  const int64_t update = c.update();
  const int R = c.replicas();
  if (!canary.traffic_routing) {
    const int canary_target = canary_replicas_for_weight(R, weight);
    std::vector<ScaleTarget> targets{{update, 0, 0, canary_target},
                                     {stable, 0, 0, R - canary_target}};
    for (int64_t rev : c.others()) targets.push_back({rev, 0, 0, 0});
    return rolling_move(c, targets, stable);
  }
  const int canary_target = weight >= 100 ? R : canary_replicas_routed(R, weight, scale);
  c.decision.replicas[stable] = R;
  c.decision.replicas[update] = canary_target;
  const int ready = c.ready(update);
  // Never send traffic to a canary that cannot take it: the full weight once the canary is at
  // size, at most what it already had while it grows, nothing when none is ready.
  int effective = 0;
  if (ready >= std::max(canary_target, 1)) {
    effective = weight;
  } else if (ready > 0) {
    effective = std::min(weight, applied_weight(c, update));
  }
  if (effective >= 100) {
    c.decision.weights = {{update, 100}};
  } else if (effective <= 0) {
    c.decision.weights = {{stable, 100}};
  } else {
    c.decision.weights = {{stable, 100 - effective}, {update, effective}};
  }
  c.status.canary_scale = scale;
  c.status.header_route = header_route;
  if (header_route && ready > 0) c.decision.header_route = header_route;
  const bool header_ok =
      !header_route || ready == 0 || c.observed.applied_header_route == header_route;
  return ready >= canary_target && effective == weight && applied_weight(c, update) == weight &&
         header_ok;
}

}  // namespace

void decide_canary(Context& c) {
  const auto& canary = std::get<manifests::CanaryStrategy>(c.spec.strategy);
  RolloutStatus& s = c.status;
  const int n = static_cast<int>(canary.steps.size());
  const bool skip = s.fast_track || s.promote_full;
  if (skip || s.current_step_index > n) s.current_step_index = n;

  if (canary.analysis && !skip && s.current_step_index >= canary.analysis->starting_step) {
    const std::string k = c.key("background");
    const AnalysisObservation& v = c.analysis(k, AnalysisKind::kBackground, *canary.analysis);
    if (v.verdict == Verdict::kFailed || v.verdict == Verdict::kError) {
      c.abort("AnalysisFailed",
              fmt::format("background analysis {} for revision {}: {}", verdict_name(v.verdict),
                          c.update(), v.message),
              k);
      return;
    }
  }

  for (int guard = 0; guard <= n + 1; ++guard) {
    const int i = s.current_step_index;
    if (i >= n) {
      if (!skip && !promotion_allowed(c)) {
        // The final promotion waits (confirm-promotion, rollout webhooks): the last step's
        // levels hold meanwhile.
        const StepLevels last = levels_at(canary, n - 1);
        set_levels(c, canary, last.weight, last.scale, last.header_route);
        return;
      }
      const bool reached = set_levels(c, canary, 100, std::nullopt, std::nullopt);
      if (reached && !c.hold) {
        if (canary.traffic_routing) {
          std::erase_if(s.scale_downs,
                        [&](const PendingScaleDown& d) { return d.revision == c.stable(); });
          s.scale_downs.push_back({c.stable(), c.now + canary.scale_down_delay});
          c.decision.replicas.erase(c.stable());
        }
        s.canary_scale.reset();
        s.header_route.reset();
        c.complete(fmt::format("revision {} is stable: {}/{} ready", c.update(),
                               c.ready(c.update()), c.replicas()));
        return;
      }
      c.progressing(fmt::format("promoting revision {}: {}/{} ready", c.update(),
                                c.ready(c.update()), c.replicas()));
      return;
    }
    const StepLevels levels = levels_at(canary, i);
    const bool reached = set_levels(c, canary, levels.weight, levels.scale, levels.header_route);
    const auto& step = canary.steps[i];
    const std::string what = fmt::format("step {}/{} ({})", i + 1, n, describe(step));
    if (std::holds_alternative<manifests::SetWeightStep>(step) ||
        std::holds_alternative<manifests::SetCanaryScale>(step) ||
        std::holds_alternative<manifests::SetHeaderRoute>(step)) {
      if (!reached) {
        c.progressing(fmt::format("{}: canary {}/{} ready", what, c.ready(c.update()),
                                  c.decision.replicas[c.update()]));
        return;
      }
    } else if (const auto* pause = std::get_if<manifests::PauseStep>(&step)) {
      if (!s.pause_started_at) s.pause_started_at = c.now;
      if (!pause->duration) {
        c.paused(fmt::format("{}: paused until promoted", what));
        return;
      }
      const TimePoint until = *s.pause_started_at + *pause->duration;
      if (c.now < until) {
        c.decision.requeue(until - c.now);
        c.paused(fmt::format("{}: paused until {}", what, format_rfc3339(until)));
        return;
      }
    } else if (const auto* analysis = std::get_if<manifests::RolloutAnalysis>(&step)) {
      const std::string k = c.key(fmt::format("step{}", i));
      const AnalysisObservation& v = c.analysis(k, AnalysisKind::kStep, *analysis);
      if (v.verdict == Verdict::kFailed || v.verdict == Verdict::kError) {
        c.abort("AnalysisFailed",
                fmt::format("analysis at {} {} for revision {}: {}", what, verdict_name(v.verdict),
                            c.update(), v.message),
                k);
        return;
      }
      if (v.verdict == Verdict::kInconclusive) {
        s.inconclusive_pause = true;
        c.paused(
            fmt::format("{}: analysis inconclusive ({}); promote to continue", what, v.message));
        return;
      }
      if (v.verdict == Verdict::kRunning) {
        c.progressing(fmt::format("{}: analysis running", what));
        return;
      }
    }
    if (c.hold) return;
    s.current_step_index = i + 1;
    s.pause_started_at.reset();
    s.inconclusive_pause = false;
    c.transition("StepCompleted", fmt::format("{} completed", what));
    c.decision.replicas.clear();
    c.decision.weights.clear();
    c.decision.header_route.reset();
    // The step's analysis stops when the step is done (keep background analysis).
    std::erase_if(c.decision.analyses,
                  [](const AnalysisRequest& a) { return a.kind == AnalysisKind::kStep; });
    // Reaching startingStep within this pass starts the background analysis now, not at the
    // next pass (which may be a whole pause later, leaving that pause unguarded).
    if (canary.analysis && s.current_step_index == canary.analysis->starting_step) {
      (void)c.analysis(c.key("background"), AnalysisKind::kBackground, *canary.analysis);
    }
  }
}

void aborted_canary(Context& c) {
  // With a router: all traffic to stable at once; the canary stays until its scale-down delay.
  const int64_t stable = c.stable();
  c.decision.replicas[stable] = c.replicas();
  c.decision.weights = {{stable, 100}};
}

}  // namespace sluice::strategies::detail
