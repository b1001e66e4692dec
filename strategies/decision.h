// The pure decision function shape (CONVENTIONS.md, pattern 3):
//
//   Decision decide(const RolloutSpec&, const RolloutStatus&, const Observed&, TimePoint now)
//
// `decide` never does I/O and never reads a clock: everything it knows arrives in its arguments,
// and everything it wants is in the returned Decision. The Decision is a *level*: the complete
// desired world for one Rollout (instances per revision, traffic weights, analyses that should be
// running, hooks that should have run). The controller makes the world match it, idempotently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "manifests/types.h"
#include "strategies/rollout_status.h"

namespace sluice::strategies {

// What the controller saw of one revision's instances.
struct RevisionObservation {
  int instances = 0;  // running, not terminating
  int ready = 0;
  // When each ready instance became ready (one entry per ready instance). Used only when
  // spec.minReadySeconds > 0: decide() then counts as ready (available) only the instances that
  // have been ready for at least minReadySeconds, and requeues for the next one to get there.
  std::vector<TimePoint> ready_since;
  bool crash_loop = false;
  std::string failure;  // "instance x: exited with code 3" for a crash loop, or last probe error
  bool has_activate_hook = false;
  bool has_deactivate_hook = false;
};

enum class Verdict { kRunning, kSuccessful, kFailed, kInconclusive, kError };
const char* verdict_name(Verdict verdict);

struct AnalysisObservation {
  Verdict verdict = Verdict::kRunning;
  std::string message;  // the metric, values and limits that decided
};

struct Observed {
  std::map<int64_t, RevisionObservation> revisions;
  std::map<std::string, AnalysisObservation> analyses;  // by AnalysisRequest::key
  // The weights the router last applied successfully (revision -> percent); empty = none yet.
  std::map<int64_t, int> applied_weights;
  std::optional<manifests::SetHeaderRoute> applied_header_route;

  const RevisionObservation& revision(int64_t rev) const;
  int ready(int64_t rev) const { return revision(rev).ready; }
};

enum class AnalysisKind { kStep, kBackground, kPrePromotion, kPostPromotion };

// An analysis that should be running now. Keys are unique per rollout attempt, so a retried
// rollout starts fresh runs; the controller prefixes the rollout name to form the run name.
struct AnalysisRequest {
  std::string key;  // "r7.a0.step3", "r7.a0.background", "r7.a0.pre", "r7.a0.post"
  AnalysisKind kind = AnalysisKind::kStep;
  int64_t revision = 0;         // the canary / preview revision under analysis
  int64_t stable_revision = 0;  // the baseline
  manifests::RolloutAnalysis analysis;
  bool operator==(const AnalysisRequest& o) const { return key == o.key; }
};

enum class HookAction { kActivate, kDeactivate };

// A lifecycle hook that should run (once) on every instance of a revision. Its outcome comes
// back in RolloutStatus::hooks[key].
struct HookRequest {
  std::string key;  // "sw2.deactivate.r6"
  int64_t revision = 0;
  HookAction action = HookAction::kActivate;
};

// A gate webhook call that should be under way: the controller makes (at most) one call per
// (key, seq), POSTs Flagger's body, and writes the answer into RolloutStatus::webhooks[key].
// A call asked for again after a restart (no answer recorded) is made again: at least once.
struct WebhookCall {
  std::string key;   // the gate: "r7.a0.load-test"
  int seq = 0;       // == WebhookGate::requested
  std::string name;  // spec.webhooks[].name
  std::string type;  // spec.webhooks[].type
  int64_t revision = 0;
  bool operator==(const WebhookCall&) const = default;
};

// A recorded transition: why the status changed. The controller adds the rollout, revision,
// from/to phase, actor, time and evidence (analysis measurements, instance exits).
struct Transition {
  std::string reason;  // "RolloutCompleted", "StepAdvanced", "AnalysisFailed", "CrashLoop", ...
  std::string message;
  int64_t revision = 0;
  std::string analysis_key;  // evidence: this analysis run's measurements
  int64_t instances_of = 0;  // evidence: this revision's instance statuses
  std::string hook_key;      // evidence: this lifecycle hook's outcome (RolloutStatus::hooks)
  std::string hook_message;  // ... its per-instance results, as recorded
  std::string webhook_key;   // evidence: this gate webhook's calls (RolloutState)
};

struct Decision {
  RolloutStatus status;
  // Instances per revision. A revision absent here is scaled to zero.
  std::map<int64_t, int> replicas;
  // Roles per revision ("stable" | "canary" | "preview").
  std::map<int64_t, std::string> roles;
  // Main front door: revision -> percent, summing to 100 (empty when no revision exists).
  std::map<int64_t, int> weights;
  std::optional<int64_t> preview_revision;
  std::optional<manifests::SetHeaderRoute> header_route;  // routed to the update revision
  std::vector<AnalysisRequest> analyses;                  // should be running; others stop
  std::vector<HookRequest> hooks;                         // should have run
  std::vector<WebhookCall> webhook_calls;                 // gate webhook calls under way
  std::optional<Duration> requeue_after;                  // wake up then, even if nothing changes
  std::vector<Transition> transitions;

  void requeue(Duration d) {
    if (!requeue_after || d < *requeue_after) requeue_after = d;
  }
};

Decision decide(const manifests::RolloutSpec& spec, const RolloutStatus& status,
                const Observed& observed, TimePoint now);

}  // namespace sluice::strategies
