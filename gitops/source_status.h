// The state of the GitOps source as served by GET /api/v1/source:
//   {"repo","branch","path","commit","fetchedAt","error":null or
//   {"commit","message","file","line"}}
// plus additive fields (commitInfo, forced, consecutiveFailures, nextFetchAt).
// A plain value: copied out of the watcher under its lock, safe to read on any thread.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "gitops/snapshot.h"

namespace sluice::gitops {

struct SourceError {
  std::string commit;  // the commit that failed ("" for a fetch failure before any commit)
  std::string message;
  std::string file;  // "" when not about a file (fetch errors)
  int line = 0;      // 0 when unknown
  bool operator==(const SourceError&) const = default;
};

struct SourceStatus {
  std::string repo;    // URL with credentials removed
  std::string branch;  // the followed branch or tag
  std::string path;
  std::string commit;  // the applied (last good) commit; "" before the first one
  CommitInfo commit_info;
  std::optional<TimePoint> fetched_at;  // last successful fetch
  std::optional<SourceError> error;     // the newest problem; cleared by the next good commit
  bool forced = false;                  // the applied commit came from a rewritten history
  int consecutive_failures = 0;
  std::optional<TimePoint> next_fetch_at;
  uint64_t fetches = 0;  // attempts so far (successful or not)
  uint64_t fetch_failures = 0;  // attempts whose fetch or snapshot build failed
  uint64_t invalid_heads = 0;   // fetched heads whose manifests were invalid (not applied)
};

// /metrics lines for the source: sluice_git_fetch_total{result="success"|"error"},
// sluice_git_source_invalid (1 while the head is invalid and the last good commit stays applied),
// sluice_git_invalid_heads_total and sluice_git_last_fetch_timestamp_seconds.
std::string metrics_text(const SourceStatus& status);

nlohmann::json to_json(const SourceStatus& status);

// The first diagnostic of an invalid snapshot as a SourceError (message in lint format).
SourceError error_from_snapshot(const Snapshot& snapshot);

}  // namespace sluice::gitops
