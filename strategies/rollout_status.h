// The persisted status of one Rollout, owned by the controller and rewritten only by the pure
// strategy functions (strategies/decide.h) and the operator verbs (strategies/verbs.h).
//
// Pattern 5 (CONVENTIONS.md): every wait is a timestamp here, compared with `now` on every pass,
// never a timer, so a restart from the journal loses nothing. The struct round-trips through JSON
// (status_to_json / status_from_json) exactly: the journal stores it whole.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/status.h"
#include "manifests/types.h"

namespace sluice::strategies {

enum class Phase { kHealthy, kProgressing, kPaused, kDegraded };
const char* phase_name(Phase phase);  // "Healthy" | "Progressing" | "Paused" | "Degraded"

// A revision that must be scaled to zero once `at` has passed (scaleDownDelaySeconds,
// abortScaleDownDelaySeconds, superseded canaries with at = now).
struct PendingScaleDown {
  int64_t revision = 0;
  TimePoint at{};
  bool operator==(const PendingScaleDown&) const = default;
};

// The outcome of a lifecycle hook, written by the controller when the runtime answers.
struct HookOutcome {
  bool ok = false;
  std::string message;
  bool operator==(const HookOutcome&) const = default;
};

// One gate webhook of one rollout attempt (spec.webhooks), keyed "r<revision>.a<attempt>.<name>".
// decide() asks for calls (`requested`, Decision::webhook_calls); the controller writes each
// answer here. Polls are timestamps (`answered_at` + interval), never timers, so a restart
// neither loses a gate nor repeats one that passed.
struct WebhookGate {
  int requested = 0;  // calls decide() has asked for; one is pending while answered < requested
  int answered = 0;   // answers (or errors) the controller recorded
  int failed = 0;     // answers that were not 2xx, or no answer within the timeout
  bool last_ok = false;                  // the last answer was 2xx
  std::optional<TimePoint> answered_at;  // when the last answer came
  std::string last;                      // "HTTP 200 in 12 ms", "timed out after 10000 ms", ...
  bool pending() const { return answered < requested; }
  bool operator==(const WebhookGate&) const = default;
};

struct RolloutStatus {
  int64_t stable_revision = 0;  // 0 = nothing has ever become stable
  int64_t update_revision = 0;  // the desired revision; == stable when no update is in progress
  Phase phase = Phase::kProgressing;
  bool aborted = false;
  std::string message;
  std::optional<TimePoint> aborted_at;

  // Canary: index into steps (== steps.size() means all steps done, promoting).
  int current_step_index = 0;
  std::optional<TimePoint> pause_started_at;  // the current pause step (timed or indefinite)
  bool inconclusive_pause = false;            // an analysis was Inconclusive: wait for promote
  bool operator_paused = false;               // the pause verb
  bool promote_requested = false;             // promote verb at a blue-green gate
  bool promote_full = false;                  // promote ?full=1: skip remaining steps/analysis
  bool fast_track = false;                    // rollbackWindow / undo: skip steps and analysis
  int attempt = 0;                            // bumped by retry; part of analysis run keys

  // Progress deadline: the last time the update made progress.
  TimePoint progress_at{};
  bool deadline_exceeded = false;
  int update_ready_seen = 0;  // the update's ready count at the last pass (progress detection)

  // Desired instance count per revision: the level handed to the runtime.
  std::map<int64_t, int> replicas;
  std::vector<PendingScaleDown> scale_downs;

  // Canary with traffic routing.
  std::optional<manifests::SetCanaryScale> canary_scale;
  std::optional<manifests::SetHeaderRoute> header_route;

  // Blue-green (and the consumer hand-over): the revision that receives traffic / consumes.
  int64_t active_revision = 0;
  bool promoted = false;  // blue-green: the promotion gate has passed
  std::optional<TimePoint> preview_ready_at;
  int switch_seq = 0;    // number of switches so far; part of hook keys
  int switch_stage = 0;  // 0 none, 1 deactivating switch_from, 2 activating switch_to
  int64_t switch_from = 0;
  int64_t switch_to = 0;
  std::map<std::string, HookOutcome> hooks;  // hook key -> outcome (written by the controller)

  // Gate webhooks of the current attempt (and of the finished one's post-rollout calls).
  std::map<std::string, WebhookGate> webhooks;
  // The revision/attempt whose post-rollout webhooks are still to answer (0: none).
  int64_t post_rollout_revision = 0;
  int post_rollout_attempt = 0;

  bool in_progress() const { return update_revision != 0 && update_revision != stable_revision; }
  bool operator==(const RolloutStatus&) const = default;
};

nlohmann::json status_to_json(const RolloutStatus& status);
Result<RolloutStatus> status_from_json(const nlohmann::json& j);

// JSON for the few spec types the status embeds (also used by the controller's snapshots).
nlohmann::json canary_scale_to_json(const manifests::SetCanaryScale& scale);
manifests::SetCanaryScale canary_scale_from_json(const nlohmann::json& j);
nlohmann::json header_route_to_json(const manifests::SetHeaderRoute& route);
manifests::SetHeaderRoute header_route_from_json(const nlohmann::json& j);

}  // namespace sluice::strategies
