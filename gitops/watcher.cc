#include "gitops/watcher.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace sluice::gitops {
namespace asio = boost::asio;

namespace {

// What the fetch thread hands back to the executor.
struct FetchOutcome {
  Status fetch_status;
  FetchResult fetch;
  // Set when the head differs from the last commit the fetch thread built; may be invalid.
  std::shared_ptr<const Snapshot> snapshot;
  Status build_status;  // git-level failure reading the commit (or checking its signature)
  // Set instead of a snapshot when repo.verify refused the new head's signature.
  std::optional<SourceError> refused;
};

// The source error of a head refused for its signature.
SourceError signature_error(const std::string& sha, const SignatureVerdict& verdict) {
  SourceError e(sha, "signature not verified (" + verdict.reason + "): " + verdict.message);
  e.signature = verdict;
  return e;
}

}  // namespace

struct Watcher::Impl : std::enable_shared_from_this<Watcher::Impl> {
  Impl(asio::any_io_executor ex, Clock& c, Random& r, RepoConfig cfg, WatcherOptions opts,
       ApplyFn fn)
      : executor(std::move(ex)),
        clock(c),
        random(r),
        config(std::move(cfg)),
        options(opts),
        apply(std::move(fn)),
        timer(executor),
        builder(config.path, opts.limits) {
    status_.repo = redact_url(config.url);
    status_.branch = config.ref;
    status_.path = config.path;
    status_.verify_mode = opts.verify.mode;
  }

  ~Impl() {
    if (worker_thread.joinable()) worker_thread.detach();  // stop() always joins first
  }

  // ---- any thread ----
  void start() {
    worker_thread = std::thread([this] { worker.run(); });
    asio::post(executor, [self = shared_from_this()] { self->start_fetch(); });
  }

  void stop() {
    if (stopped.exchange(true)) return;
    work_guard.reset();
    if (worker_thread.joinable()) worker_thread.join();
    asio::post(executor, [self = shared_from_this()] {
      self->timer.cancel();
      auto waiters = std::move(self->waiting);
      for (auto& w : self->current_waiters) waiters.push_back(std::move(w));
      self->current_waiters.clear();
      for (auto& w : waiters) w(unavailable("the git watcher stopped"));
    });
  }

  // ---- executor ----
  void start_fetch() {
    if (stopped) return;
    if (in_flight) {
      pending_refresh = true;
      return;
    }
    in_flight = true;
    pending_refresh = false;
    timer.cancel();
    current_waiters = std::move(waiting);
    waiting.clear();
    asio::post(worker, [self = shared_from_this()] {
      auto outcome = std::make_shared<FetchOutcome>(self->fetch_and_build());
      asio::post(self->executor, [self, outcome] { self->on_fetched(*outcome); });
    });
  }

  void on_fetched(const FetchOutcome& outcome) {
    in_flight = false;
    if (stopped) return;
    // apply() runs without the lock: it may read status()/applied().
    if (outcome.fetch_status && outcome.build_status && outcome.refused)
      head_error = outcome.refused;
    else if (outcome.fetch_status && outcome.build_status && outcome.snapshot)
      head_error = apply_snapshot(outcome.snapshot);
    Result<SourceStatus> answer = unavailable("no fetch");
    {
      std::lock_guard lock(mu);
      ++status_.fetches;
      if (!outcome.fetch_status) {
        ++status_.fetch_failures;
        ++status_.consecutive_failures;
        status_.error = SourceError{"", outcome.fetch_status.message(), "", 0};
        answer = outcome.fetch_status;
      } else if (!outcome.build_status) {
        ++status_.fetch_failures;
        ++status_.consecutive_failures;
        status_.error = SourceError{outcome.fetch.head, outcome.build_status.message(), "", 0};
        answer = outcome.build_status;
      } else {
        status_.consecutive_failures = 0;
        status_.fetched_at = clock.now();
        status_.error = head_error;
        if (head_error && outcome.snapshot && !outcome.snapshot->ok()) ++status_.invalid_heads;
        if (outcome.refused) ++status_.unverified_heads;
        answer = status_;
      }
    }
    if (on_problem) {
      if (!outcome.fetch_status) {
        on_problem(Problem::kFetchFailed, SourceError{"", outcome.fetch_status.message(), "", 0});
      } else if (!outcome.build_status) {
        on_problem(Problem::kFetchFailed,
                   SourceError{outcome.fetch.head, outcome.build_status.message(), "", 0});
      } else if (outcome.refused) {
        // A refused signature is told like an invalid commit: once per head.
        on_problem(Problem::kInvalidCommit, *outcome.refused);
      } else if (head_error && outcome.snapshot) {
        // Only a new head brings a snapshot, so a refused commit is told once.
        on_problem(outcome.snapshot->ok() ? Problem::kApplyFailed : Problem::kInvalidCommit,
                   *head_error);
      }
    }
    schedule_next();
    auto waiters = std::move(current_waiters);
    current_waiters.clear();
    for (auto& w : waiters) w(answer);
  }

  // Returns the error to show for the current head (nullopt when it is applied).
  std::optional<SourceError> apply_snapshot(const std::shared_ptr<const Snapshot>& snap) {
    if (!snap->ok()) return error_from_snapshot(*snap);
    static const manifests::ManifestSet kEmpty;
    std::shared_ptr<const Snapshot> previous = applied();
    SetDiff diff = diff_sets(previous ? previous->manifests : kEmpty, snap->manifests);
    Status st = apply(snap, diff);
    if (!st) {
      // Offer the same commit again on the next fetch.
      asio::post(worker, [self = shared_from_this()] { self->last_built_sha.clear(); });
      return SourceError{snap->commit.sha, st.message(), "", 0};
    }
    std::lock_guard lock(mu);
    applied_ = snap;
    status_.commit = snap->commit.sha;
    status_.commit_info = snap->commit;
    status_.forced = snap->forced;
    status_.signature = snap->signature;
    return std::nullopt;
  }

  std::shared_ptr<const Snapshot> applied() const {
    std::lock_guard lock(mu);
    return applied_;
  }

  void schedule_next() {
    if (stopped) return;
    if (pending_refresh || !waiting.empty()) {
      start_fetch();
      return;
    }
    int failures;
    {
      std::lock_guard lock(mu);
      failures = status_.consecutive_failures;
    }
    auto delay = options.poll;
    if (failures > 0) {
      delay = options.poll * (int64_t{1} << std::min(failures, 16));
      delay = std::min(delay, std::max(options.max_backoff, options.poll));
    }
    if (options.jitter > 0) {
      double factor = 1.0 + options.jitter * (2.0 * random.uniform_real() - 1.0);
      delay = Duration(static_cast<int64_t>(static_cast<double>(delay.count()) * factor));
    }
    {
      std::lock_guard lock(mu);
      status_.next_fetch_at = clock.now() + delay;
    }
    timer.expires_after(delay);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->start_fetch();
    });
  }

  // ---- fetch thread ----
  FetchOutcome fetch_and_build() {
    FetchOutcome out;
    if (!repo) {
      auto opened = GitRepository::open_mirror(config);
      if (!opened) {
        out.fetch_status = opened.status();
        return out;
      }
      repo = std::move(*opened);
    }
    auto fetched = repo->fetch();
    if (!fetched) {
      out.fetch_status = fetched.status();
      return out;
    }
    out.fetch = *fetched;
    if (fetched->head == last_built_sha) return out;
    // The signature is checked before the manifests are parsed: nobody trusted vouched for
    // their content yet.
    std::optional<SignatureVerdict> signature;
    if (options.verify.enabled()) {
      auto verdict = verify_commit(repo->raw(), fetched->head, options.verify);
      if (!verdict) {
        out.build_status = verdict.status();
        return out;
      }
      if (!verdict->verified) {
        last_built_sha = fetched->head;
        out.refused = signature_error(fetched->head, *verdict);
        return out;
      }
      signature = *verdict;
    }
    auto snap = builder.build(repo->raw(), fetched->head);
    if (!snap) {
      out.build_status = snap.status();
      return out;
    }
    // Force-push: compare with the last head this watcher built, which is what was offered for
    // applying (fetch() compares with the mirror's previous ref, the same after a restart).
    snap->forced = fetched->forced;
    snap->signature = std::move(signature);
    last_built_sha = fetched->head;
    out.snapshot = std::make_shared<const Snapshot>(std::move(*snap));
    return out;
  }

  SourceStatus status() const {
    std::lock_guard lock(mu);
    return status_;
  }

  asio::any_io_executor executor;
  Clock& clock;
  Random& random;
  const RepoConfig config;
  const WatcherOptions options;
  ApplyFn apply;
  ProblemFn on_problem;  // set before start(); called on the executor
  std::atomic<bool> stopped{false};

  // Executor-owned.
  asio::steady_timer timer;
  bool in_flight = false;
  bool pending_refresh = false;
  std::vector<SyncCallback> waiting;          // for the next fetch to start
  std::vector<SyncCallback> current_waiters;  // for the fetch in flight
  std::optional<SourceError> head_error;

  // Fetch-thread-owned.
  asio::io_context worker;
  asio::executor_work_guard<asio::io_context::executor_type> work_guard{worker.get_executor()};
  std::thread worker_thread;
  std::unique_ptr<GitRepository> repo;
  SnapshotBuilder builder;
  std::string last_built_sha;

  // Shared with readers.
  mutable std::mutex mu;
  SourceStatus status_;
  std::shared_ptr<const Snapshot> applied_;
};

Watcher::Watcher(asio::any_io_executor executor, Clock& clock, Random& random, RepoConfig config,
                 WatcherOptions options, ApplyFn apply)
    : impl_(std::make_shared<Impl>(std::move(executor), clock, random, std::move(config), options,
                                   std::move(apply))) {}

Watcher::~Watcher() { stop(); }

void Watcher::set_on_problem(ProblemFn fn) { impl_->on_problem = std::move(fn); }
void Watcher::start() { impl_->start(); }
void Watcher::stop() { impl_->stop(); }

void Watcher::refresh(const std::string& /*reason*/) {
  asio::post(impl_->executor, [self = impl_] { self->start_fetch(); });
}

void Watcher::sync(SyncCallback done) {
  asio::post(impl_->executor, [self = impl_, done = std::move(done)]() mutable {
    if (self->stopped) {
      done(unavailable("the git watcher stopped"));
      return;
    }
    self->waiting.push_back(std::move(done));
    self->start_fetch();
  });
}

SourceStatus Watcher::status() const { return impl_->status(); }

std::shared_ptr<const Snapshot> Watcher::applied() const { return impl_->applied(); }

Result<std::string> Watcher::checkout(const std::string& sha) const {
  auto repo = GitRepository::open_existing(GitRepository::mirror_path(impl_->config.state_dir),
                                           impl_->config.state_dir);
  if (!repo) return repo.status();
  return (*repo)->checkout(sha);
}

}  // namespace sluice::gitops
