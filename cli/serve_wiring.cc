// The one place where `sluice serve` wires the real parts together:
//
//   gitops::Watcher --(valid snapshot)--> Controller::apply_desired
//   Controller --> LocalProcessRuntime (instances), CompositeRouter (built-in or HAProxy),
//                  AnalysisRunnerImpl (providers; metrics from router + runtime through
//                  controller::RouterRuntimeMetrics, including the judge's samples)
//   Controller --(records)--> JournalSink --> Journal (state dir), snapshots on a timer
//   ControllerFacade --> API server (cli/serve.cc)
//   ControllerFacade::subscribe("") --(every new event)--> notify::Notifier (its own thread)
//
// Threads: the controller, the watcher's state, the analysis runner and the runtime's callbacks
// all run on one strand of the serve io_context (`controller_strand`). The router has its own
// I/O threads; the watcher has its own fetch thread. See docs/ARCHITECTURE.md, "Threads".
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "base/descriptors.h"
#include "base/filesystem.h"
#include "base/redact.h"
#include "base/state_dir_lock.h"
#include "api/logging.h"
#include "cli/serve.h"
#include "controller/asio_scheduler.h"
#include "controller/control_facade.h"
#include "controller/controller.h"
#include "controller/journal.h"
#include "controller/journal_sink.h"
#include "controller/router_runtime_metrics.h"
#include "gitops/commit_signing.h"
#include "gitops/watcher.h"
#include "gitops/write_back.h"
#include "healthcheck/analysis/analysis_runner.h"
#include "healthcheck/analysis/metrics_source.h"
#include "notify/notifier.h"
#include "runtime/local_process_runtime.h"
#include "traffic/haproxy_router.h"
#include "traffic/router_control.h"

namespace sluice::cli {

namespace {

namespace asio = boost::asio;

// This binary, to start `sluice router` with: the router and the controller are one program.
std::string self_executable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("sluice") : path.string();
}

// The built-in router for Rollouts without trafficRouting.haproxy, HAProxy for the others. The
// built-in router runs as its own process (traffic/router_control.h), reached through
// RemoteRouter, so that its front doors outlive this one.
class CompositeRouter final : public traffic::Router {
 public:
  CompositeRouter(const Clock& clock, traffic::RemoteRouterOptions builtin)
      : builtin_(std::move(builtin)), haproxy_(clock) {}

  // Adopts the router process that answers in its state dir, or starts one.
  Status start() { return builtin_.start(); }
  int builtin_pid() const { return builtin_.router_pid(); }

  Status apply(const traffic::RouteTable& table) override {
    const bool use_haproxy = table.haproxy.has_value();
    bool was_haproxy = false;
    {
      std::lock_guard lock(mu_);
      auto it = haproxy_rollouts_.find(table.rollout);
      was_haproxy = it != haproxy_rollouts_.end() && it->second;
      haproxy_rollouts_[table.rollout] = use_haproxy;
    }
    if (use_haproxy) {
      if (!was_haproxy) builtin_.remove(table.rollout);
      return haproxy_.apply(table);
    }
    if (was_haproxy) haproxy_.remove(table.rollout);
    return builtin_.apply(table);
  }

  void remove(std::string_view rollout) override {
    builtin_.remove(rollout);
    haproxy_.remove(rollout);
    std::lock_guard lock(mu_);
    haproxy_rollouts_.erase(std::string(rollout));
  }

  void drain_endpoint(std::string_view rollout, const traffic::Endpoint& endpoint) override {
    if (uses_haproxy(rollout))
      haproxy_.drain_endpoint(rollout, endpoint);
    else
      builtin_.drain_endpoint(rollout, endpoint);
  }

  std::optional<traffic::VersionStats> stats(std::string_view rollout, int64_t revision,
                                             Duration window) const override {
    return uses_haproxy(rollout) ? haproxy_.stats(rollout, revision, window)
                                 : builtin_.stats(rollout, revision, window);
  }

  std::vector<double> samples(std::string_view rollout, int64_t revision, traffic::SampleKind kind,
                              Duration window) const override {
    return uses_haproxy(rollout) ? haproxy_.samples(rollout, revision, kind, window)
                                 : builtin_.samples(rollout, revision, kind, window);
  }

  std::string metrics_text() const { return builtin_.metrics_text(); }

 private:
  bool uses_haproxy(std::string_view rollout) const {
    std::lock_guard lock(mu_);
    auto it = haproxy_rollouts_.find(std::string(rollout));
    return it != haproxy_rollouts_.end() && it->second;
  }

  traffic::RemoteRouter builtin_;
  traffic::HaproxyRouter haproxy_;
  mutable std::mutex mu_;
  std::map<std::string, bool> haproxy_rollouts_;
};

controller::DesiredState to_desired(const gitops::Snapshot& snapshot) {
  controller::DesiredState d;
  d.commit = snapshot.commit.sha;
  d.author = snapshot.commit.author;
  d.time = snapshot.commit.time;
  d.message = snapshot.commit.message;
  d.manifests = snapshot.manifests;
  return d;
}

// repo.verify from the config file (already checked when it was loaded) as the watcher's.
gitops::VerifyConfig verify_config(const api::RepoVerifyConfig& config) {
  gitops::VerifyConfig out;
  if (config.mode == "ssh") out.mode = gitops::VerifyMode::kSsh;
  if (config.mode == "gpg") out.mode = gitops::VerifyMode::kGpg;
  out.allowed_signers_file = config.allowed_signers_file;
  out.keyring = config.keyring;
  return out;
}

// Owns every part of the running controller; the API sees it as a ControlFacade.
class ServeController final : public controller::ControlFacade {
 public:
  explicit ServeController(asio::io_context& ioc)
      : ioc_(ioc), scheduler_(ioc.get_executor(), SystemClock::instance()) {}

  ~ServeController() override {
    // Called after the io_context stopped: nothing else runs now. A write-back in progress
    // finishes first (bounded by its fetch and push deadlines); its outcome is dropped and the
    // next start does it again from the journal, or finds it done on the branch.
    if (write_back_pool_) write_back_pool_->join();
    if (watcher_) watcher_->stop();
    // Notifications of the last events get a short, bounded drain; what is left is counted as
    // dropped and logged (notify/notifier.h).
    notify_events_.reset();
    if (notifier_) notifier_->stop(kNotifyDrain);
    event_log_.reset();
    facade_.reset();
  }

  Status start(const api::ServeOptions& o) {
    Clock& clock = SystemClock::instance();
    // Descriptors are cheap, running out is not (issue 19): the soft RLIMIT_NOFILE goes up to the
    // hard limit before anything opens a socket.
    if (auto limit = raise_descriptor_limit(); limit.is_ok()) {
      spdlog::info("descriptor limit {} (hard {})", limit->soft, limit->hard);
    } else {
      spdlog::warn("could not raise the descriptor limit: {}", limit.status().message());
    }
    std::error_code ec;
    std::filesystem::create_directories(o.state_dir, ec);
    auto lock = StateDirLock::acquire(o.state_dir);
    if (!lock.is_ok()) return lock.status();
    lock_.emplace(std::move(*lock));

    controller::JournalOptions jo;
    jo.dir = o.state_dir + "/journal";
    jo.repair_state_dir = o.state_dir;  // `sluice journal repair` locks it and finds journal/
    jo.sync_every = Duration(20);
    jo.snapshot_every_records = 5'000;
    auto journal = controller::Journal::open(fs_, clock, jo);
    if (!journal.is_ok()) return journal.status();
    controller::Recovery recovery = (*journal)->recover();
    if (recovery.report.torn_bytes_dropped > 0) {
      spdlog::warn("journal: dropped a torn tail of {} bytes in {} ({})",
                   recovery.report.torn_bytes_dropped, recovery.report.torn_segment,
                   recovery.report.torn_reason);
    }
    // The sink owns the journal and reopens it when a failed write or fsync poisoned it (a full
    // disk): the controller holds meanwhile and retries (docs/ARCHITECTURE.md, Durability).
    sink_ = std::make_unique<controller::JournalSink>(
        std::move(*journal),
        [this, clock = &clock, jo] { return controller::Journal::open(fs_, *clock, jo); });

    runtime::LocalRuntimeOptions ro;
    ro.max_replicas = o.max_replicas;
    runtime_ =
        std::make_unique<runtime::LocalProcessRuntime>(ioc_, clock, o.state_dir + "/runtime", ro);
    for (const auto& problem : runtime_->startup_problems()) spdlog::warn("runtime: {}", problem);
    traffic::RemoteRouterOptions rro;
    rro.dir = o.state_dir + "/router";
    rro.start_argv = {self_executable(), "router", "--state-dir", rro.dir};
    router_ = std::make_unique<CompositeRouter>(clock, rro);
    if (Status st = router_->start(); !st.is_ok()) return st;
    spdlog::info("router: pid {} ({})", router_->builtin_pid(), rro.dir);
    metrics_ = std::make_unique<controller::RouterRuntimeMetrics>(*router_, *runtime_);
    analysis::AnalysisRunnerOptions ao;
    ao.default_prometheus_address = o.prometheus_address;
    analysis_ = std::make_unique<analysis::AnalysisRunnerImpl>(scheduler_.strand(), clock,
                                                               metrics_.get(), ao);

    // Gate webhooks POST on their own strand of the I/O context, never on the controller's.
    webhook_caller_ = std::make_unique<controller::HttpWebhookCaller>(asio::make_strand(ioc_));
    gitops::RepoConfig rc;
    rc.url = o.repo;
    rc.ref = o.branch;
    rc.path = o.path;
    rc.state_dir = o.state_dir;
    rc.auth.username = o.repo_credentials.username;
    rc.auth.password_file = o.repo_credentials.password_file;
    rc.auth.ssh_key_file = o.repo_credentials.ssh_key_file;
    rc.auth.ssh_passphrase_file = o.repo_credentials.ssh_passphrase_file;
    rc.auth.known_hosts_file = o.repo_credentials.known_hosts_file;

    controller::ControllerDeps deps{clock,     scheduler_, *runtime_,
                                    *router_,  *analysis_, *sink_,
                                    webhook_caller_.get()};
    if (o.git_write_back && o.git_write_back_refused.empty()) {
      wire_git_write_back(rc, *o.git_write_back, o.max_replicas);
      deps.git_write_back = &write_back_;
    }
    controller_ = std::make_unique<controller::Controller>(deps);

    // Replay the journal before anything can act.
    std::optional<nlohmann::json> snapshot;
    std::vector<nlohmann::json> records;
    try {
      if (recovery.snapshot) snapshot = nlohmann::json::parse(recovery.snapshot->payload);
      records.reserve(recovery.tail.size());
      for (const auto& r : recovery.tail) records.push_back(nlohmann::json::parse(r.payload));
    } catch (const std::exception& e) {
      return data_loss(std::string("journal holds a record that is not JSON: ") + e.what());
    }
    if (Status st = controller_->recover(snapshot ? &*snapshot : nullptr, records); !st.is_ok()) {
      return st;
    }
    spdlog::info("journal: replayed {} records{}", records.size(),
                 snapshot ? " after a snapshot" : "");

    facade_ = std::make_unique<controller::ControllerFacade>(*controller_, scheduler_);
    // Every event recorded from now on is one log line (replayed ones were logged when they
    // happened).
    event_log_ =
        facade_->subscribe("", [](const nlohmann::json& e) { api::log_recorded_event(e); });

    if (!o.notifications.empty()) {
      notify::NotifierOptions no;
      no.dashboard_base = o.external_url;
      auto notifier = notify::Notifier::create(o.notifications, no);
      if (!notifier.is_ok()) return notifier.status();
      notifier_ = std::move(notifier).value();
      notifier_->start();
      // On the controller thread: submit() only copies the event into the targets' queues.
      notify_events_ =
          facade_->subscribe("", [n = notifier_.get()](const nlohmann::json& e) { n->submit(e); });
      spdlog::info("notifications: {} target(s)", notifier_->target_count());
    }

    auto post_enqueue = [this](const std::string& rollout) {
      scheduler_.post([this, rollout] { controller_->enqueue(rollout); });
    };
    runtime_->set_listener(post_enqueue);
    analysis_->set_listener(
        [post_enqueue](const std::string& rollout, const std::string&) { post_enqueue(rollout); });
    runtime_->set_before_stop([this](const runtime::InstanceStatus& instance) {
      for (const auto& [name, port] : instance.ports) {
        router_->drain_endpoint(instance.rollout,
                                traffic::Endpoint{instance.id, "127.0.0.1", port});
      }
    });

    gitops::WatcherOptions wo;
    wo.poll = o.poll;
    wo.limits.max_replicas = o.max_replicas;
    wo.verify = verify_config(o.repo_verify);
    wo.limits.git_write_back_refused = o.git_write_back_refused;
    watcher_ = std::make_unique<gitops::Watcher>(
        scheduler_.strand(), clock, random_, rc, wo,
        [this](const std::shared_ptr<const gitops::Snapshot>& snap, const gitops::SetDiff&) {
          spdlog::info("applying commit {} ({}): {}", snap->commit.sha.substr(0, 12),
                       snap->commit.author, snap->commit.summary());
          controller_->apply_desired(to_desired(*snap));
          // Ready means the API already shows this commit's rollouts: publish before flipping.
          controller_->publish_now();
          facade_->set_ready(true);
          return Status::ok();
        });
    watcher_->set_on_problem([](gitops::Watcher::Problem problem, const gitops::SourceError& e) {
      // libgit2's messages may carry the remote URL: its credentials never reach the log.
      const std::string message = redact_urls_in(e.message);
      nlohmann::json fields = {
          {"commit", e.commit.empty() ? nlohmann::json() : nlohmann::json(e.commit)},
          {"error", message}};
      switch (problem) {
        case gitops::Watcher::Problem::kFetchFailed:
          fields["event"] = "FetchFailed";
          api::log_fields(spdlog::level::warn, "git fetch failed: " + message, fields);
          break;
        case gitops::Watcher::Problem::kInvalidCommit:
          fields["event"] = "CommitRefused";
          fields["file"] = e.file;
          fields["line"] = e.line;
          if (e.signature) {  // repo.verify refused it: who signed (if anyone trusted), and why
            fields["signer"] = e.signature->signer;
            fields["signatureReason"] = e.signature->reason;
          }
          api::log_fields(spdlog::level::warn,
                          fmt::format("commit {} refused, the last good commit stays applied: {}",
                                      e.commit.substr(0, 12), message),
                          fields);
          break;
        case gitops::Watcher::Problem::kApplyFailed:
          fields["event"] = "ApplyFailed";
          api::log_fields(spdlog::level::err,
                          fmt::format("commit {} could not be applied: {}", e.commit.substr(0, 12),
                                      message),
                          fields);
          break;
      }
    });
    controller_->set_checkout_resolver([this](const std::string& commit) -> std::string {
      if (commit.empty()) return "";
      auto dir = watcher_->checkout(commit);
      if (!dir.is_ok()) {
        spdlog::error("checkout of {} failed: {}", commit, dir.status().message());
        return "";
      }
      return *dir;
    });
    facade_->set_source_hooks(controller::SourceHooks{
        [this] { return gitops::to_json(watcher_->status()); },
        [this](std::function<void(Result<nlohmann::json>)> done) {
          watcher_->sync([done = std::move(done)](const Result<gitops::SourceStatus>& r) {
            if (r.is_ok())
              done(gitops::to_json(*r));
            else
              done(r.status());
          });
        },
        [this](const std::string& reason) { watcher_->refresh(reason); }});
    watcher_->start();
    schedule_snapshot();
    return Status::ok();
  }

  // ControlFacade: forward to the controller's facade; metrics add the router's.
  nlohmann::json list_rollouts() const override { return facade_->list_rollouts(); }
  std::optional<nlohmann::json> get_rollout(const std::string& name) const override {
    return facade_->get_rollout(name);
  }
  std::optional<nlohmann::json> history(const std::string& name) const override {
    return facade_->history(name);
  }
  nlohmann::json events(const std::string& rollout, uint64_t after_id) const override {
    return facade_->events(rollout, after_id);
  }
  std::unique_ptr<controller::Subscription> subscribe(const std::string& rollout,
                                                      controller::EventCallback cb) override {
    return facade_->subscribe(rollout, std::move(cb));
  }
  std::unique_ptr<controller::Subscription> watch_rollouts(const std::string& rollout,
                                                           controller::EventCallback cb) override {
    return facade_->watch_rollouts(rollout, std::move(cb));
  }
  void command(const controller::VerbRequest& request, controller::VerbCallback done) override {
    facade_->command(request, std::move(done));
  }
  Result<std::vector<runtime::InstanceLog>> logs(
      const controller::LogsRequest& request) const override {
    return facade_->logs(request);
  }
  nlohmann::json source() const override { return facade_->source(); }
  void sync(std::function<void(Result<nlohmann::json>)> done) override {
    facade_->sync(std::move(done));
  }
  void request_refresh(const std::string& reason) override { facade_->request_refresh(reason); }
  bool ready() const override { return facade_->ready(); }
  std::string not_ready_reason() const override { return facade_->not_ready_reason(); }
  std::string metrics_text() const override {
    return facade_->metrics_text() + router_->metrics_text() +
           gitops::metrics_text(watcher_->status()) + runtime_->metrics_text() +
           (notifier_ ? notifier_->metrics_text() : std::string());
  }

 private:
  // Git write-back (gitops/write_back.h): one worker thread owns the GitWriter; the controller
  // posts requests to it and gets the outcome back through its scheduler.
  void wire_git_write_back(const gitops::RepoConfig& rc, const api::GitWriteBackConfig& g,
                           int max_replicas) {
    gitops::WriteBackOptions wbo;
    auto author = gitops::parse_author(g.author);  // checked by the config already
    if (author.is_ok()) std::tie(wbo.author_name, wbo.author_email) = *author;
    wbo.max_attempts = g.max_attempts;
    wbo.limits.max_replicas = max_replicas;
    if (g.signing_key_file) wbo.sign = commit_signer(*g.signing_key_file);
    writer_ = std::make_shared<gitops::GitWriter>(rc, wbo);
    write_back_pool_ = std::make_unique<asio::thread_pool>(1);
    write_back_.default_on_abort = g.on_abort;
    write_back_.start = [this](const controller::GitWriteBackRequest& request,
                               std::function<void(controller::GitWriteBackOutcome)> done) {
      asio::post(*write_back_pool_, [this, request, done = std::move(done)] {
        gitops::RevertRequest r;
        r.rollout = request.rollout;
        r.revision = request.revision;
        r.version = request.version;
        r.commit = request.commit;
        r.reason = request.reason;
        r.stable_revision = request.stable_revision;
        r.stable_version = request.stable_version;
        r.stable_template = request.stable_template;
        r.time = request.time;
        auto result = writer_->revert(r);
        controller::GitWriteBackOutcome outcome;
        if (result.is_ok()) {
          outcome.pushed = result->pushed;
          outcome.commit = result->commit;
          outcome.reverted_commit = result->reverted_commit;
          outcome.file = result->file;
          outcome.attempts = result->attempts;
        } else {
          outcome.status =
              Status(result.status().code(), redact_urls_in(result.status().message()));
        }
        done(outcome);
        // Let the watcher see the revert now rather than at the next poll.
        if (outcome.pushed && watcher_) watcher_->refresh("git write-back");
      });
    };
  }

  // The revert's signer for gitWriteBack.signingKeyFile: an SSH signature (ssh-keygen -Y sign
  // -n git), as `git commit -S` with gpg.format=ssh makes. With repo.verify on, the key's public
  // half must be in the allowed signers file, or Sluice refuses its own revert (stable runs on).
  static gitops::CommitSigner commit_signer(const std::string& key_file) {
    return [key_file](const std::string& content) -> Result<std::string> {
      return gitops::ssh_sign_commit(content, key_file);
    };
  }

  // Snapshots are taken between reconciles (on the strand), so the state matches the journal.
  void schedule_snapshot() {
    snapshot_timer_ = scheduler_.call_at(SystemClock::instance().now() + Duration(5'000), [this] {
      Status st = sink_->snapshot_if_due([this] { return controller_->snapshot().dump(); });
      if (!st.is_ok()) spdlog::error("journal snapshot failed: {}", st.message());
      schedule_snapshot();
    });
  }

  asio::io_context& ioc_;
  controller::AsioScheduler scheduler_;  // owns the controller strand
  PosixFilesystem fs_;
  SeededRandom random_{static_cast<uint64_t>(std::random_device{}())};
  std::optional<StateDirLock> lock_;
  std::unique_ptr<controller::JournalSink> sink_;
  std::unique_ptr<runtime::LocalProcessRuntime> runtime_;
  std::unique_ptr<CompositeRouter> router_;
  std::unique_ptr<controller::RouterRuntimeMetrics> metrics_;
  std::unique_ptr<analysis::AnalysisRunnerImpl> analysis_;
  std::unique_ptr<controller::HttpWebhookCaller> webhook_caller_;
  controller::GitWriteBackDeps write_back_;
  std::shared_ptr<gitops::GitWriter> writer_;                 // used on write_back_pool_ only
  std::unique_ptr<boost::asio::thread_pool> write_back_pool_;  // one thread
  std::unique_ptr<controller::Controller> controller_;
  std::unique_ptr<controller::ControllerFacade> facade_;
  std::unique_ptr<gitops::Watcher> watcher_;
  std::unique_ptr<controller::Subscription> event_log_;  // logs every recorded event
  static constexpr Duration kNotifyDrain{3'000};
  std::unique_ptr<notify::Notifier> notifier_;             // null without `notifications:`
  std::unique_ptr<controller::Subscription> notify_events_;  // feeds notifier_
  controller::Scheduler::TimerId snapshot_timer_ = 0;
};

}  // namespace

Result<std::unique_ptr<controller::ControlFacade>> make_controller(const api::ServeOptions& options,
                                                                   boost::asio::io_context& ioc) {
  auto serve = std::make_unique<ServeController>(ioc);
  if (Status st = serve->start(options); !st.is_ok()) return st;
  return std::unique_ptr<controller::ControlFacade>(std::move(serve));
}

}  // namespace sluice::cli
