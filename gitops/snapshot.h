// A commit as desired state: provenance (sha, author, time, message) plus the ManifestSet read
// from every *.yaml / *.yml blob below the configured path of the commit's tree (no checkout).
//
// Thread ownership: a SnapshotBuilder (and its parse cache) belongs to one thread at a time, the
// watcher's fetch thread or the CLI. Snapshots are immutable once built and shared as
// shared_ptr<const Snapshot> across threads.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "gitops/commit_verify.h"
#include "manifests/loader.h"
#include "manifests/types.h"

struct git_repository;

namespace sluice::gitops {

struct CommitInfo {
  std::string sha;  // "" for the empty tree (plan --from on a first commit)
  std::string author;
  std::string author_email;
  TimePoint time{};  // author time
  std::string message;
  std::string summary() const;  // first line of message
};

struct ManifestFile {
  std::string path;  // repository-relative, as shown in diagnostics
  std::string blob;  // blob oid (hex)
  bool operator==(const ManifestFile&) const = default;
};

struct Snapshot {
  CommitInfo commit;
  manifests::ManifestSet manifests;  // valid only when manifests.ok()
  std::vector<ManifestFile> files;   // sorted by path
  bool forced = false;               // set by the watcher: the previous head is not an ancestor
  // Set by the watcher when repo.verify is on: the commit's verified signature (a snapshot is
  // only built for a head whose signature verified).
  std::optional<SignatureVerdict> signature;
  bool ok() const { return manifests.ok(); }
};

struct BuildStats {
  size_t files = 0;
  size_t files_parsed = 0;  // parsed in this build
  size_t files_reused = 0;  // taken from the blob cache
};

class SnapshotBuilder {
 public:
  // path: manifests root inside the repository ("" or "." = the whole tree).
  explicit SnapshotBuilder(std::string path, manifests::LoadLimits limits = {});

  // Reads the commit. Git failures (unknown commit, missing objects) are errors; manifest
  // problems (YAML, validation, a missing path, an escaping symlink, an oversized file) are
  // diagnostics in the returned snapshot.
  Result<Snapshot> build(git_repository* repo, const std::string& sha);
  // The empty desired state (no commit).
  static Snapshot empty();

  const BuildStats& last_stats() const { return stats_; }
  // Drops the parsed-document cache (benchmarks measure a cold parse with it).
  void clear_cache() { cache_.clear(); }

 private:
  Result<manifests::SourceFile> read_source(git_repository* repo, const ManifestFile& ref);

  std::string path_;
  manifests::LoadLimits limits_;
  BuildStats stats_;
  // (path, blob oid) -> the documents of that file alone (load_file). Entries not used by the
  // latest build are dropped, so the cache holds at most one commit's files.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const manifests::ManifestSet>>
      cache_;
};

Result<CommitInfo> read_commit_info(git_repository* repo, const std::string& sha);

}  // namespace sluice::gitops
