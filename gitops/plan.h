// `sluice plan`: what the controller would do if it moved from one commit to another, offline.
//
// Reads both commits straight from a local repository (no fetch, no checkout), builds their
// snapshots with the same loader and limits as the watcher, and diffs them with diff_sets().
// Pure apart from reading the repository; safe on any thread with its own repository handle.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "gitops/diff.h"
#include "gitops/snapshot.h"

namespace sluice::gitops {

struct PlanRequest {
  std::string repo;  // path to a local repository (work tree or bare)
  std::string from;  // "" = the first parent of `to`, or the empty tree for a root commit
  std::string to = "HEAD";
  std::string path;  // manifests root inside the repository ("" = the whole tree)
};

struct PlanEntry {
  std::string name;
  // "new revision" | "scale" | "update" | "delete" | "orphan" | "unchanged" | "error"
  std::string action;
  std::string detail;  // human sentence for the text output
  RolloutChange change;
};

struct Plan {
  CommitInfo from;  // sha "" = the empty tree
  CommitInfo to;
  std::vector<PlanEntry> entries;  // sorted by name
  SetDiff diff;
  std::vector<manifests::Diagnostic> diagnostics;  // of `to`; non-empty = it would be rejected
  bool ok() const { return diagnostics.empty(); }
};

// Errors: the repository or a revision cannot be read.
Result<Plan> make_plan(const PlanRequest& request);

// Text: one line per Rollout, diagnostics in lint format first.
std::string format_plan(const Plan& plan);
nlohmann::json to_json(const Plan& plan);

}  // namespace sluice::gitops
