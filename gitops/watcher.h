// Watches the configured branch/tag: polls every `poll` (with jitter), fetches on demand
// (webhooks, POST /api/v1/sync), turns each new head commit into a Snapshot and hands valid
// ones, with their diff against the last applied one, to the controller.
//
// Guarantees:
//  - A bad commit (any diagnostic) is never applied: the last good snapshot stays applied, and
//    status().error names the commit, file, line and message. Fetch failures likewise keep the
//    last good snapshot; they back off exponentially (poll * 2^failures, capped, jittered).
//    Nothing is ever deleted because of an invalid commit or a failed fetch.
//  - refresh() cannot be lost: one requested while a fetch runs causes exactly one more fetch
//    when it ends; any number of requests during one fetch coalesce into that one.
//  - sync(done) calls done after a fetch that *started after* the call has finished and, when it
//    brought a new valid commit, after apply() returned for it.
//  - A rewritten history (force-push) is followed as is: the new head is applied and marked
//    forced (Snapshot::forced, SourceStatus::forced).
//  - With options.verify enabled, only a head whose signature verifies against the trusted keys
//    is applied (gitops/commit_verify.h); only the head is checked, not the commits between the
//    applied one and it (docs/notifications.md, "Signed commits", says why). A refused head is
//    checked once; a check that could not be made (a tool timed out) counts as a failed fetch
//    and is tried again with the back-off.
//
// Threads: state lives on `executor`, which must be single-threaded or a strand (the
// controller's strand). apply() and sync callbacks run there. Blocking libgit2 work (fetch,
// snapshot) runs on a dedicated thread owned by the watcher and posts its result back.
// refresh(), sync(), status(), applied() and stop() may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "base/clock.h"
#include "base/status.h"
#include "gitops/commit_verify.h"
#include "gitops/diff.h"
#include "gitops/repository.h"
#include "gitops/snapshot.h"
#include "gitops/source_status.h"

namespace sluice::gitops {

struct WatcherOptions {
  Duration poll{15'000};
  Duration max_backoff{300'000};
  double jitter = 0.1;  // +-10% of each delay
  manifests::LoadLimits limits;
  // Signed commits (repo.verify): when enabled, a new head is applied only when its signature
  // verifies; any other head is refused like an invalid one (status().error names the commit
  // and error.signature the signer and reason), before its manifests are even parsed.
  VerifyConfig verify;
};

class Watcher {
 public:
  // Applies a new valid snapshot as desired state (on the executor). diff is against the last
  // applied snapshot (the empty set for the first). A non-OK status is reported as the source
  // error and the snapshot is not recorded as applied (the next fetch offers it again).
  using ApplyFn =
      std::function<Status(const std::shared_ptr<const Snapshot>& snapshot, const SetDiff& diff)>;
  // The source status after the fetch, or the fetch error.
  using SyncCallback = std::function<void(const Result<SourceStatus>&)>;

  Watcher(boost::asio::any_io_executor executor, Clock& clock, Random& random, RepoConfig config,
          WatcherOptions options, ApplyFn apply);
  ~Watcher();  // stop()
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // What went wrong with the source, for the log: a failed fetch (or snapshot build), a new head
  // refused because its manifests are invalid (error has the file and line), or a valid head
  // whose apply failed. Called on the executor, once per failed attempt and once per refused head.
  enum class Problem { kFetchFailed, kInvalidCommit, kApplyFailed };
  using ProblemFn = std::function<void(Problem problem, const SourceError& error)>;
  // Call before start().
  void set_on_problem(ProblemFn fn);

  // Starts the fetch thread and the first fetch at once.
  void start();
  // Stops polling and joins the fetch thread (a fetch in progress finishes first; its result is
  // dropped). Pending sync callbacks are answered with kUnavailable. Idempotent.
  void stop();

  void refresh(const std::string& reason);
  void sync(SyncCallback done);

  SourceStatus status() const;
  std::shared_ptr<const Snapshot> applied() const;

  // Materialises a read-only checkout of sha (blocking; call from a worker, not the strand).
  Result<std::string> checkout(const std::string& sha) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::gitops
