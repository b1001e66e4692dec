// decide(): the parts common to every strategy (first revision, steady state, aborts by crash loop
// and deadline, operator pause, delayed scale-downs, progress tracking). The strategy-specific
// step logic lives in rolling.cc, canary.cc and blue_green.cc.
#include <algorithm>

#include "strategies/strategy_context.h"

namespace sluice::strategies {
namespace detail {

namespace {

// Records a failed hook (evidence: its per-instance results and the revision's instances).
// Returns true when it aborted the update: a hand-over *to the update* failed while there is a
// stable revision to return to. The first revision has none: its failure is recorded and the
// hand-over completes, as when handing back.
bool hook_failed(Context& c, int64_t target, const std::string& key, const HookOutcome& outcome,
                 const char* action, int64_t revision) {
  RolloutStatus& s = c.status;
  const bool promoting = s.in_progress() && !s.aborted && s.stable_revision != 0 &&
                         target == s.update_revision && target != s.stable_revision;
  std::string message =
      fmt::format("{} hook on revision {} failed: {}", action, revision, outcome.message);
  if (promoting) {
    message = fmt::format("{}; revision {} rolled back to stable revision {}", message,
                          s.update_revision, s.stable_revision);
    mark_aborted(c.spec, s, message, c.now);
  }
  Transition t;
  t.reason = "HookFailed";
  t.message = message;
  t.revision = revision;
  t.instances_of = revision;
  t.hook_key = key;
  t.hook_message = outcome.message;
  c.decision.transitions.push_back(std::move(t));
  return promoting;
}

}  // namespace

bool ensure_active(Context& c, int64_t target) {
  RolloutStatus& s = c.status;
  if (s.switch_stage == 0 && s.active_revision == target) return true;
  if (s.switch_stage == 0 || s.switch_to != target) {
    s.switch_seq += 1;
    s.switch_stage = 1;
    s.switch_from = s.active_revision;
    s.switch_to = target;
  }
  if (s.switch_stage == 1) {
    const int64_t from = s.switch_from;
    const RevisionObservation& obs = c.observed.revision(from);
    if (from != 0 && from != target && obs.has_deactivate_hook && obs.instances > 0) {
      const std::string k = fmt::format("sw{}.deactivate.r{}", s.switch_seq, from);
      auto it = s.hooks.find(k);
      if (it == s.hooks.end()) {
        c.decision.hooks.push_back({k, from, HookAction::kDeactivate});
        return false;
      }
      if (!it->second.ok && hook_failed(c, target, k, it->second, "deactivate", from)) {
        return false;
      }
    }
    s.switch_stage = 2;
    s.active_revision = target;
    c.transition("ActiveSwitched", fmt::format("revision {} is now active (was {})", target, from),
                 target);
  }
  const RevisionObservation& obs = c.observed.revision(target);
  if (obs.has_activate_hook && obs.instances > 0) {
    const std::string k = fmt::format("sw{}.activate.r{}", s.switch_seq, target);
    auto it = s.hooks.find(k);
    if (it == s.hooks.end()) {
      c.decision.hooks.push_back({k, target, HookAction::kActivate});
      return false;
    }
    if (!it->second.ok && hook_failed(c, target, k, it->second, "activate", target)) {
      return false;
    }
  }
  s.switch_stage = 0;
  // Hook outcomes of finished switches are no longer needed.
  std::erase_if(s.hooks, [&](const auto& kv) {
    return kv.first.rfind(fmt::format("sw{}.", s.switch_seq), 0) != 0;
  });
  return true;
}

namespace {

bool is_blue_green(const manifests::RolloutSpec& spec) {
  return std::holds_alternative<manifests::BlueGreenStrategy>(spec.strategy);
}

// Strategies whose moves keep `replicas - maxUnavailable` ready (the rolling arithmetic).
bool has_rolling_budget(const manifests::RolloutSpec& spec) {
  if (std::holds_alternative<manifests::RollingUpdateStrategy>(spec.strategy)) return true;
  const auto* canary = std::get_if<manifests::CanaryStrategy>(&spec.strategy);
  return canary && !canary->traffic_routing;
}

void first_revision(Context& c) {
  const int64_t rev = c.update();
  const int want = c.replicas();
  const int ready = c.ready(rev);
  const RevisionObservation& obs = c.observed.revision(rev);
  // An earlier revision that never became stable (superseded before it was complete) may be
  // serving already. Replace it within the budget like any rolling move, not all at once: the
  // budget holds whether or not a revision has been stable before.
  if (!c.others().empty() && has_rolling_budget(c.spec)) {
    std::vector<ScaleTarget> targets{{rev, 0, 0, want}};
    for (int64_t other : c.others()) targets.push_back({other, 0, 0, 0});
    if (rolling_move(c, targets, rev)) {
      c.status.active_revision = rev;
      c.complete(fmt::format("revision {} is stable: {}/{} ready", rev, ready, want));
    } else if (obs.crash_loop) {
      c.status.phase = Phase::kDegraded;
      c.status.message = fmt::format("revision {} is crash-looping: {}", rev, obs.failure);
    } else {
      c.progressing(fmt::format("replacing unfinished revision(s) with revision {}: {}/{} ready",
                                rev, ready, want));
    }
    return;
  }
  c.decision.replicas[rev] = want;
  c.decision.weights[rev] = 100;
  if (ready >= want) {
    if (is_blue_green(c.spec) && !ensure_active(c, rev)) {
      c.progressing(fmt::format("activating revision {}", rev));
      return;
    }
    c.status.active_revision = rev;
    c.complete(fmt::format("revision {} is stable: {}/{} ready", rev, ready, want));
    return;
  }
  if (obs.crash_loop) {
    // Nothing to roll back to: report, keep trying.
    c.status.phase = Phase::kDegraded;
    c.status.message = fmt::format("revision {} is crash-looping: {}", rev, obs.failure);
    return;
  }
  c.progressing(fmt::format("waiting for revision {}: {}/{} ready", rev, ready, want));
}

void steady(Context& c) {
  const int64_t rev = c.stable();
  const int want = c.replicas();
  // Other revisions still holding instances: after a restart the controller moves from what the
  // runtime really runs, which may be more than the last decision asked for (it was recorded,
  // then the crash came before the scale-down). They go within the budget, not all at once.
  if (!c.others().empty() && has_rolling_budget(c.spec)) {
    std::vector<ScaleTarget> targets{{rev, 0, 0, want}};
    for (int64_t other : c.others()) targets.push_back({other, 0, 0, 0});
    const bool done = rolling_move(c, targets, rev);
    const int ready = c.ready(rev);
    if (done && ready >= want) {
      c.status.phase = Phase::kHealthy;
      c.status.message = fmt::format("revision {} is stable: {}/{} ready", rev, ready, want);
    } else {
      c.progressing(fmt::format("revision {}: {}/{} ready, scaling down older revisions", rev,
                                ready, want));
    }
    return;
  }
  c.decision.replicas[rev] = want;
  c.decision.weights[rev] = 100;
  if (is_blue_green(c.spec) && !ensure_active(c, rev)) {
    c.progressing(fmt::format("activating revision {}", rev));
    return;
  }
  const int ready = c.ready(rev);
  if (ready >= want) {
    c.status.phase = Phase::kHealthy;
    c.status.message = fmt::format("revision {} is stable: {}/{} ready", rev, ready, want);
  } else {
    c.progressing(fmt::format("revision {}: {}/{} ready", rev, ready, want));
  }
}

void apply_scale_downs(Context& c) {
  std::vector<PendingScaleDown> keep;
  for (const auto& d : c.status.scale_downs) {
    if (c.decision.replicas.count(d.revision)) continue;  // the strategy decided about it
    if (c.now < d.at) {
      const int n = c.desired(d.revision);
      if (n > 0) {
        c.decision.replicas[d.revision] = n;
        c.decision.requeue(d.at - c.now);
        keep.push_back(d);
      }
    }
  }
  c.status.scale_downs = std::move(keep);
}

// `may_abort`: false for the first revision, which has nothing to roll back to; past its
// deadline it is reported and keeps trying, with or without progressDeadlineAbort.
void check_deadline(Context& c, Phase previous_phase, bool may_abort) {
  RolloutStatus& s = c.status;
  const int seconds = c.spec.progress_deadline_seconds;
  if (seconds <= 0 || previous_phase == Phase::kPaused || c.hold) return;
  const TimePoint deadline = s.progress_at + Duration(int64_t{seconds} * 1000);
  if (c.now < deadline) {
    c.decision.requeue(deadline - c.now);
    return;
  }
  const std::string message =
      fmt::format("ProgressDeadlineExceeded: revision {} made no progress for {}s (ready {}/{})",
                  c.update(), seconds, c.ready(c.update()), c.replicas());
  if (c.spec.progress_deadline_abort && may_abort) {
    c.abort("ProgressDeadlineExceeded", message, {}, c.update());
  } else if (!s.deadline_exceeded) {
    s.deadline_exceeded = true;
    c.transition("ProgressDeadlineExceeded", message, c.update(), {}, c.update());
  }
}

void assign_roles(Context& c) {
  const bool bg = is_blue_green(c.spec);
  for (const auto& [rev, n] : c.decision.replicas) {
    if (bg) {
      c.decision.roles[rev] = rev == c.status.active_revision ? "stable" : "preview";
    } else {
      c.decision.roles[rev] = rev == c.status.stable_revision ? "stable" : "canary";
    }
  }
}

// minReadySeconds (as in Kubernetes): an instance counts as ready for every decision only once
// it has been ready that long. Sets `wake` to when the next one gets there.
Observed available_only(const Observed& observed, Duration min_ready, TimePoint now,
                        std::optional<Duration>& wake) {
  Observed out = observed;
  for (auto& [rev, o] : out.revisions) {
    int available = 0;
    for (const TimePoint since : o.ready_since) {
      const TimePoint at = since + min_ready;
      if (at <= now) {
        ++available;
      } else if (!wake || at - now < *wake) {
        wake = at - now;
      }
    }
    o.ready = std::min(o.ready, available);
  }
  return out;
}

}  // namespace
}  // namespace detail

Decision decide(const manifests::RolloutSpec& spec, const RolloutStatus& status,
                const Observed& seen, TimePoint now) {
  Decision d;
  d.status = status;
  std::optional<Observed> available;
  std::optional<Duration> wake;
  if (spec.min_ready_seconds > 0) {
    available =
        detail::available_only(seen, Duration(int64_t{spec.min_ready_seconds} * 1000), now, wake);
  }
  const Observed& observed = available ? *available : seen;
  detail::Context c{spec, observed, now, d, d.status};
  RolloutStatus& s = d.status;
  if (s.update_revision == 0) return d;
  if (wake) d.requeue(*wake);

  if (s.stable_revision == 0) {
    detail::first_revision(c);
    if (s.stable_revision == 0) {
      detail::check_deadline(c, status.phase, /*may_abort=*/false);
      if (s.deadline_exceeded && s.phase == Phase::kProgressing) {
        s.phase = Phase::kDegraded;
        s.message = fmt::format(
            "ProgressDeadlineExceeded: revision {} made no progress for {}s (ready {}/{})",
            s.update_revision, spec.progress_deadline_seconds, c.ready(s.update_revision),
            c.replicas());
      }
    }
  } else if (!s.in_progress()) {
    detail::steady(c);
  } else {
    const RevisionObservation& update_obs = observed.revision(s.update_revision);
    c.hold = s.operator_paused || spec.paused;
    if (!s.aborted && update_obs.crash_loop) {
      c.abort(
          "CrashLoop",
          fmt::format("revision {} is crash-looping: {}", s.update_revision, update_obs.failure),
          {}, s.update_revision);
    }
    if (!s.aborted) detail::check_deadline(c, status.phase, /*may_abort=*/true);
    detail::prune_webhook_gates(c);
    // Gate webhooks before the strategy: a rollback answer or a failed pre-rollout/rollout call
    // aborts in this pass; a waiting confirm-rollout/pre-rollout gate holds the first step.
    const bool gates_open = s.aborted || detail::before_first_step(c);
    if (!s.aborted && gates_open) detail::rollout_webhooks(c);
    if (!s.aborted && gates_open) {
      std::visit(
          [&](const auto& strategy) {
            using T = std::decay_t<decltype(strategy)>;
            if constexpr (std::is_same_v<T, manifests::RollingUpdateStrategy>) {
              detail::decide_rolling(c);
            } else if constexpr (std::is_same_v<T, manifests::CanaryStrategy>) {
              detail::decide_canary(c);
            } else {
              detail::decide_blue_green(c);
            }
          },
          spec.strategy);
    }
    // A strategy may abort (analysis); the aborted levels then apply in the same pass.
    if (s.aborted) {
      d.replicas.clear();
      d.weights.clear();
      d.analyses.clear();
      d.hooks.clear();
      d.webhook_calls.clear();  // only post-rollout calls after an abort (below)
      d.header_route.reset();
      d.preview_revision.reset();
      std::visit(
          [&](const auto& strategy) {
            using T = std::decay_t<decltype(strategy)>;
            if constexpr (std::is_same_v<T, manifests::RollingUpdateStrategy>) {
              detail::aborted_rolling(c);
            } else if constexpr (std::is_same_v<T, manifests::CanaryStrategy>) {
              if (strategy.traffic_routing) {
                detail::aborted_canary(c);
              } else {
                detail::aborted_rolling(c);
              }
            } else {
              detail::aborted_blue_green(c);
            }
          },
          spec.strategy);
      s.phase = Phase::kDegraded;
    } else if (s.in_progress()) {
      if (c.hold) {
        s.phase = Phase::kPaused;
        s.message = s.operator_paused ? "paused by an operator; resume to continue"
                                      : "paused by spec.paused";
      } else if (s.deadline_exceeded && s.phase == Phase::kProgressing) {
        s.phase = Phase::kDegraded;
        s.message = fmt::format(
            "ProgressDeadlineExceeded: revision {} made no progress for {}s (ready {}/{})",
            s.update_revision, spec.progress_deadline_seconds, c.ready(s.update_revision),
            c.replicas());
      }
    }
  }
  detail::post_rollout_webhooks(c, status);
  detail::apply_scale_downs(c);
  std::erase_if(d.replicas, [](const auto& kv) { return kv.second <= 0; });
  detail::assign_roles(c);

  // Progress: a change of step, stage or scale, or more ready instances of the update.
  const int update_ready = observed.ready(s.update_revision);
  const std::map<int64_t, int>& nonzero = d.replicas;
  if (s.current_step_index != status.current_step_index || s.promoted != status.promoted ||
      s.switch_stage != status.switch_stage || s.stable_revision != status.stable_revision ||
      nonzero != status.replicas || update_ready > status.update_ready_seen) {
    s.progress_at = now;
    s.deadline_exceeded = false;
  }
  s.update_ready_seen = update_ready;
  s.replicas = d.replicas;
  return d;
}

}  // namespace sluice::strategies
