// Git write-back: after an automatic abort, a commit on the watched branch that reverts the bad
// revision's change to its Rollout's manifest file, pushed without force (contract:
// shared/reference/notifications.md, "Git write-back").
//
// What the commit holds: the watched branch's head with exactly one file changed, the Rollout's
// manifest file, where the change of the commit that last changed that file at or before the bad
// revision's commit is reverted (git revert restricted to that file: a three-way merge of the
// file at that commit, its first parent and the head; a conflict with a later edit is an error,
// never a guess). Before anything is pushed the new commit is read back as desired state with
// the watcher's own SnapshotBuilder and must (1) be valid, (2) give the Rollout the stable
// revision's template, and (3) leave every other Rollout and AnalysisTemplate as they are on the
// head. So the revert cannot start a rollout, and Sluice never pushes a commit it would refuse.
//
// Push: never forced. When the remote refuses because the branch moved, the writer fetches,
// builds the revert again on the new head, and tries again, at most `max_attempts` pushes in all;
// a refusal on a branch that did not move (a server hook, a protected branch) is given up at once.
// Idempotent: a revert already on the branch for this rollout and revision (its trailers, in the
// last kRevertSearchDepth first-parent commits), or a head whose template already is stable's,
// is reported as done without a push, so a restart never pushes the same revert twice.
//
// Threads: blocking (libgit2 fetch and push, YAML parsing in a child process). A GitWriter
// belongs to one thread at a time; serve runs it on its own worker thread, never on the
// controller strand. Credentials come from RepoConfig::auth (read at push time, never logged;
// URLs in errors are redacted).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "base/clock.h"
#include "base/status.h"
#include "gitops/repository.h"
#include "manifests/loader.h"
#include "manifests/types.h"

namespace sluice::gitops {

// Signs a commit's content (as git_commit_create_buffer made it) and returns the armored
// signature for git_commit_create_with_signature (e.g. gitops/commit_signing.h's ssh signer).
using CommitSigner = std::function<Result<std::string>(const std::string& commit_content)>;

inline constexpr int kDefaultWriteBackAttempts = 4;
inline constexpr int kRevertSearchDepth = 50;
// How far back from the bad revision's commit the writer looks for the commit that changed the
// Rollout's file (the watcher may have applied several commits at once).
inline constexpr int kChangeSearchDepth = 100;

struct WriteBackOptions {
  std::string author_name;
  std::string author_email;
  int max_attempts = kDefaultWriteBackAttempts;  // pushes in all, >= 1
  CommitSigner sign;                             // empty: the commit is not signed
  manifests::LoadLimits limits;                  // the watcher's, to read commits the same way
  // Tests only: runs after the revert commit is built, before each push (attempt from 1), e.g.
  // to push a concurrent commit in between.
  std::function<void(int attempt)> before_push;
};

struct RevertRequest {
  std::string rollout;
  int64_t revision = 0;       // the aborted revision
  std::string version;        // its template version
  std::string commit;         // the commit its revision was created from
  std::string reason;         // why it was aborted (the abort's reason and message)
  int64_t stable_revision = 0;
  std::string stable_version;
  manifests::PodTemplate stable_template;  // what Git must say again
  TimePoint time{};                        // author and committer time
};

struct RevertResult {
  bool pushed = false;          // false: Git already said stable (by a revert found or by hand)
  std::string commit;           // the revert commit (pushed or found), or the head that matched
  std::string reverted_commit;  // the commit whose change was reverted ("" when not pushed)
  std::string file;             // the Rollout's manifest file, repository-relative
  int attempts = 0;             // pushes made
};

// "Name <email>" -> {name, email}. Errors name what is wrong, never guess.
Result<std::pair<std::string, std::string>> parse_author(const std::string& author);

// Why Sluice can only read this repository, so write-back could never push ("" when it may
// push): https:// or http:// without a passwordFile (token), ssh:// without a key, or a local
// repository that is not writable by this process.
std::string read_only_reason(const RepoConfig& config);

class GitWriter {
 public:
  // config is the watched repository (url, ref = the branch, path, credentials, timeouts). The
  // writer keeps its own bare repository in config.state_dir/writeback/git/mirror.git: the
  // watcher's mirror is only ever changed by the watcher's fetch.
  GitWriter(RepoConfig config, WriteBackOptions options);
  ~GitWriter();
  GitWriter(const GitWriter&) = delete;
  GitWriter& operator=(const GitWriter&) = delete;

  // Blocking. See the top of this file. Errors say why in a sentence fit for an event.
  Result<RevertResult> revert(const RevertRequest& request);

 private:
  struct Built;
  Result<Built> build(const std::string& head, const RevertRequest& request);
  RepoConfig config_;
  WriteBackOptions options_;
  std::unique_ptr<GitRepository> repo_;
};

}  // namespace sluice::gitops
