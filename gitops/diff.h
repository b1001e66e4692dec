// What a new commit changes, per Rollout, relative to the last applied desired state.
//
// Pure function of two ManifestSets; no I/O. The classification follows Argo Rollouts:
//   template changed -> a new revision (strategy runs); replicas only -> scale in place;
//   strategy/other spec fields only -> applies to the next revision, no new revision;
//   removed from Git -> delete (with the template's grace period) unless the old spec said
//   prune: false, in which case the Rollout is kept running, orphaned and visible.
// A changed AnalysisTemplate marks every Rollout that references it (analysis_changed), since
// the next analysis run of that Rollout uses the new template.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "manifests/types.h"

namespace sluice::gitops {

enum class ChangeKind {
  kUnchanged,        // possibly with analysis_changed
  kCreated,          // new in this commit: first revision
  kTemplateChanged,  // new revision
  kScaled,           // spec.replicas only
  kSpecChanged,      // strategy or other spec fields (no new revision); see fields
  kDeleted,          // removed, prune (default): scale to zero and forget
  kOrphaned,         // removed, prune: false: keep running, orphaned
};
const char* change_kind_name(ChangeKind kind);  // "unchanged", "created", ...

struct RolloutChange {
  std::string name;
  ChangeKind kind = ChangeKind::kUnchanged;
  // Changed top-level field paths, sorted ("spec.replicas", "spec.strategy", "spec.template").
  std::vector<std::string> fields;
  int old_replicas = 0;  // 0 when created
  int new_replicas = 0;  // 0 when deleted/orphaned
  std::string old_version;
  std::string new_version;
  // AnalysisTemplates referenced by this Rollout (old or new spec) that changed, were added or
  // were removed in this commit. Sorted.
  std::vector<std::string> changed_templates;
  bool analysis_changed() const { return !changed_templates.empty(); }
  bool operator==(const RolloutChange&) const = default;
};

struct SetDiff {
  std::vector<RolloutChange> rollouts;  // sorted by name, every Rollout of either side
  std::vector<std::string> templates_added;
  std::vector<std::string> templates_changed;
  std::vector<std::string> templates_removed;
  // True when nothing at all differs (every Rollout unchanged and no template changes).
  bool empty() const;
  const RolloutChange* find(const std::string& name) const;
};

// before may be the empty set (first snapshot). Both sets should be ok(); the diff of an
// invalid set is computed from whatever it holds.
SetDiff diff_sets(const manifests::ManifestSet& before, const manifests::ManifestSet& after);

// AnalysisTemplate names a Rollout references (steps, background, blue-green pre/post).
std::vector<std::string> referenced_templates(const manifests::Rollout& rollout);

nlohmann::json to_json(const RolloutChange& change);
nlohmann::json to_json(const SetDiff& diff);

}  // namespace sluice::gitops
