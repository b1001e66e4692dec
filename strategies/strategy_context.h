// Internal to strategies/: the state one decide() pass works on, shared by the per-strategy files.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include "strategies/decision.h"
#include "strategies/replica_math.h"
#include "strategies/verbs.h"

namespace sluice::strategies::detail {

struct Context {
  const manifests::RolloutSpec& spec;
  const Observed& observed;
  TimePoint now;
  Decision& decision;
  RolloutStatus& status;
  bool hold = false;  // operator pause or spec.paused: keep levels, do not advance

  int replicas() const { return spec.replicas < 0 ? 0 : spec.replicas; }
  int64_t stable() const { return status.stable_revision; }
  int64_t update() const { return status.update_revision; }
  int ready(int64_t rev) const { return observed.ready(rev); }

  // Revisions with desired instances other than stable and update (superseded updates).
  std::vector<int64_t> others() const {
    std::vector<int64_t> out;
    for (const auto& [rev, n] : status.replicas) {
      if (rev != stable() && rev != update() && n > 0) out.push_back(rev);
    }
    return out;
  }
  int desired(int64_t rev) const {
    auto it = status.replicas.find(rev);
    return it == status.replicas.end() ? 0 : it->second;
  }

  std::string key(const std::string& suffix) const {
    return fmt::format("r{}.a{}.{}", update(), status.attempt, suffix);
  }

  void transition(std::string reason, std::string message, int64_t revision = 0,
                  std::string analysis_key = {}, int64_t instances_of = 0) {
    decision.transitions.push_back({std::move(reason),
                                    std::move(message),
                                    revision ? revision : update(),
                                    std::move(analysis_key),
                                    instances_of,
                                    {},
                                    {},
                                    {}});
  }

  void abort(const std::string& reason, const std::string& message,
             const std::string& analysis_key = {}, int64_t instances_of = 0) {
    mark_aborted(spec, status, message, now);
    transition(reason, message, update(), analysis_key, instances_of);
  }

  // Requests an analysis and returns its verdict so far.
  const AnalysisObservation& analysis(const std::string& k, AnalysisKind kind,
                                      const manifests::RolloutAnalysis& a) {
    decision.analyses.push_back({k, kind, update(), stable(), a});
    static const AnalysisObservation kRunning;
    auto it = observed.analyses.find(k);
    return it == observed.analyses.end() ? kRunning : it->second;
  }

  void complete(const std::string& how) {
    const int64_t old_stable = stable();
    status.stable_revision = update();
    status.phase = Phase::kHealthy;
    status.message = how;
    status.pause_started_at.reset();
    status.current_step_index = 0;
    transition("RolloutCompleted", how, update());
    (void)old_stable;
  }

  void progressing(std::string message) {
    status.phase = Phase::kProgressing;
    status.message = std::move(message);
  }
  void paused(std::string message) {
    status.phase = Phase::kPaused;
    status.message = std::move(message);
  }
};

// Makes `target` the active revision: deactivate hook on the old active revision, then the
// activate hook on the new one, so consumers never overlap. Returns true once done.
// A failed hook while handing over *to the update* (promotion) aborts the update with reason
// HookFailed and the hook's per-instance results as evidence; the aborted pass then hands back
// (deactivate the update, activate stable). A failed hook while handing back to stable (abort,
// superseded update, steady state) is recorded (HookFailed, Warning) and the hand-over goes on:
// there is nothing safer to go back to, and stopping half-way would leave no active revision.
bool ensure_active(Context& c, int64_t target);

bool rolling_move(Context& c, std::vector<ScaleTarget> targets, int64_t fallback_weight_rev);
void decide_rolling(Context& c);
void decide_canary(Context& c);
void decide_blue_green(Context& c);
// Gate webhooks (webhooks.cc). Every one is skipped on a fast track (rollbackWindow, undo) and
// after promote --full, except post-rollout.
//
// rollback: polled during the update; a 2xx answer aborts (WebhookRollback). Then
// before_first_step: confirm-rollout (polled until 2xx; Paused) and pre-rollout (once; a non-2xx
// answer aborts, WebhookFailed) gate the update's first step: while they wait, the update has no
// instances and stable keeps all traffic. Returns false while the strategy must not run yet.
bool before_first_step(Context& c);
// rollout: one call per interval from the first step until the update completes; a failed call
// counts like a failed measurement of a background metric (failureLimit; WebhookFailed).
void rollout_webhooks(Context& c);
// The final promotion (canary's last step done, blue-green's promotion gate): every
// confirm-promotion webhook answered 2xx, and every rollout webhook answered at least once with
// no call in flight. Sets the phase and message while it waits.
bool promotion_allowed(Context& c);
// post-rollout: once, after the update completed or aborted (`before`: the status decide() was
// given). Its answer is evidence and changes no verdict.
void post_rollout_webhooks(Context& c, const RolloutStatus& before);
// Drops gates of earlier attempts (kept: the current one's and pending post-rollout calls).
void prune_webhook_gates(Context& c);

void aborted_rolling(Context& c);  // also basic canary
void aborted_canary(Context& c);
void aborted_blue_green(Context& c);

}  // namespace sluice::strategies::detail
