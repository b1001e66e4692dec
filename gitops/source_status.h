// The state of the GitOps source as served by GET /api/v1/source:
//   {"repo","branch","path","commit","fetchedAt","error":null or
//   {"commit","message","file","line"}}
// plus additive fields (commitInfo, forced, consecutiveFailures, nextFetchAt; with repo.verify:
// "verify": {"mode"}, "signature" of the applied commit, and "error.signature" of a refused
// head: {"verified","signer","key","reason"}).
// A plain value: copied out of the watcher under its lock, safe to read on any thread.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "gitops/commit_verify.h"
#include "gitops/snapshot.h"

namespace sluice::gitops {

struct SourceError {
  SourceError() = default;
  SourceError(std::string commit_sha, std::string text, std::string file_name = "",
              int line_number = 0)
      : commit(std::move(commit_sha)),
        message(std::move(text)),
        file(std::move(file_name)),
        line(line_number) {}
  std::string commit;  // the commit that failed ("" for a fetch failure before any commit)
  std::string message;
  std::string file;  // "" when not about a file (fetch errors)
  int line = 0;      // 0 when unknown
  // Set when the head was refused because its signature did not verify (repo.verify): who
  // signed it, if anyone trusted, and why it was refused.
  std::optional<SignatureVerdict> signature;
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
  // repo.verify: the mode (kOff: no "verify" and "signature" are null), the applied commit's
  // verified signature, and the heads refused for their signature (not applied).
  VerifyMode verify_mode = VerifyMode::kOff;
  std::optional<SignatureVerdict> signature;
  uint64_t unverified_heads = 0;
};

// /metrics lines for the source: sluice_git_fetch_total{result="success"|"error"},
// sluice_git_source_invalid (1 while the head is invalid and the last good commit stays applied),
// sluice_git_invalid_heads_total, sluice_git_last_fetch_timestamp_seconds and, with repo.verify,
// sluice_git_unverified_heads_total (heads refused for their signature).
std::string metrics_text(const SourceStatus& status);

nlohmann::json to_json(const SourceStatus& status);

// The first diagnostic of an invalid snapshot as a SourceError (message in lint format).
SourceError error_from_snapshot(const Snapshot& snapshot);

}  // namespace sluice::gitops
