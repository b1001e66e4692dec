// Operator verbs and revision changes as pure status transformations. The controller resolves
// undo (which needs the revision history) into begin_update(); the rest happens here.
//
// A verb in the wrong state returns kFailedPrecondition with a sentence that says why, and
// nothing changes.
#pragma once

#include <cstdint>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "manifests/types.h"
#include "strategies/decision.h"
#include "strategies/rollout_status.h"

namespace sluice::strategies {

enum class OperatorVerb { kPromote, kAbort, kRetry, kPause, kResume };
const char* operator_verb_name(OperatorVerb verb);

struct VerbOutcome {
  RolloutStatus status;
  Transition transition;
};

Result<VerbOutcome> apply_verb(const manifests::RolloutSpec& spec, const RolloutStatus& status,
                               OperatorVerb verb, bool full, const std::string& actor,
                               TimePoint now);

// Starts rolling towards `revision` from the current stable (a new commit, an undo, or a retry).
// A half-done update is superseded: its revision stays in status.replicas and the strategy scales
// it away. fast_track skips steps and analysis (rollbackWindow, undo).
void begin_update(RolloutStatus& status, int64_t revision, bool fast_track, TimePoint now);

// Marks the update aborted: all traffic goes to stable on the next decide(). Shared by the verbs
// and by decide() (analysis, crash loop, deadline).
void mark_aborted(const manifests::RolloutSpec& spec, RolloutStatus& status,
                  const std::string& message, TimePoint now);

}  // namespace sluice::strategies
