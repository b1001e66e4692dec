// Where `undo` goes, and whether what runs is what Git says (the rollout object's `undo` and
// `sync`). Pure functions of the persisted RolloutState, so both survive a restart unchanged.
#pragma once

#include <nlohmann/json.hpp>

#include "controller/controller.h"

namespace sluice::controller {

// The revision `undo` without --to-revision goes to, as `kubectl argo rollouts undo` does: the
// revision before the current one (the current is the update revision, the newest).
//  - An update in progress, paused or aborted: the stable revision it falls back to. Undo then
//    ends the update (UpdateCancelled) and the rollout stays on stable; it never jumps further.
//  - Healthy: the newest older revision that completed (served as stable) with a template other
//    than the current one. Aborted and superseded revisions never served, so they are skipped;
//    a revision equal to the current one would change nothing. Undo twice toggles.
// Null when there is nothing to undo to (no revision was ever stable before the current one).
const RevisionRecord* undo_target(const RolloutState& state);

// The rollout object's `undo`: {"toRevision", "version"}, or null (undo_target()).
nlohmann::json undo_json(const RolloutState& state);

// The rollout object's `sync`, as Argo CD's sync status compares Git's desired spec with the live
// one: {"status": "Synced"|"OutOfSync", "gitRevision", "gitVersion", "runningRevision",
// "runningVersion", "reason"}. gitRevision is the commit that last changed the template in Git;
// runningRevision the commit of the revision that serves (the stable one). OutOfSync while the
// update revision is aborted (Git's template does not run) or its template is not Git's (after
// an undo); an update rolling out Git's template is Synced (its health says Progressing). A
// commit that changes the template ends it; one that leaves this Rollout alone does not.
nlohmann::json sync_json(const RolloutState& state);

}  // namespace sluice::controller
