// The level-based reconciler. For each Rollout it observes the world (runtime instances, analysis
// runs, what the router applied), asks the pure strategy for the desired world
// (strategies::decide), records the decision (EventSink, flushed before acting), then makes the
// world match: scale revisions, set roles, start/stop analyses, run hooks, apply the route table.
//
// Fail closed. When the sink cannot make a record durable (EventSink::flush_before_action), the
// controller holds: it takes no action (scale, role, route, hook, analysis), reconciles nothing,
// answers verbs with kUnavailable and the reason, and reports why (durability(), the read model,
// every rollout's `message` and `durability`). It retries the flush with back-off
// (kDurabilityRetryInitial doubling up to kDurabilityRetryMax); the first success carries out the
// actions held back (deletions, stops) and queues every Rollout again.
//
// Threading: every method runs on the Scheduler's thread (an Asio strand in production, the
// SimulatedClock in tests). Outside callbacks (runtime listener, analysis listener, hook results)
// may arrive on any thread in production; the production wiring posts them to the Scheduler
// before calling in. Nothing here blocks or sleeps.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/status.h"
#include "controller/event_sink.h"
#include "controller/facade.h"
#include "controller/scheduler.h"
#include "controller/webhook_caller.h"
#include "controller/work_queue.h"
#include "healthcheck/analysis/analysis.h"
#include "manifests/types.h"
#include "runtime/runtime.h"
#include "strategies/decision.h"
#include "traffic/router.h"

namespace sluice::controller {

// What the GitOps source hands over: one commit's manifests.
struct DesiredState {
  std::string commit;
  std::string author;
  TimePoint time{};
  std::string message;
  manifests::ManifestSet manifests;
};

struct RevisionRecord {
  int64_t number = 0;
  manifests::RolloutSpec spec;  // the Rollout as it was when this revision was created
  std::string commit;
  std::string author;
  TimePoint created{};
  std::string result;  // "" (in progress) | "Completed" | "Aborted" | "Superseded"
  std::string reason;
};

// Git write-back of one automatic abort (controller/git_write_back.cc): asked for when the abort
// is recorded, done off the controller thread, its outcome recorded. Persisted with the state
// (timestamps, not timers), so a restart neither repeats a pushed revert nor forgets a pending
// one: a pending record is started again by the rollout's next reconcile.
struct GitWriteBackRecord {
  int64_t revision = 0;   // the aborted revision
  std::string commit;     // its commit (what is reverted, or the commit the search starts at)
  std::string reason;     // the abort's reason and message
  TimePoint requested_at{};
  std::string result;     // "" pending | "Pushed" | "AlreadyInGit" | "GaveUp"
  TimePoint finished_at{};
  std::string revert_commit;  // the commit pushed, or found on the branch
  std::string message;        // the outcome as a sentence (the event's message)
  bool operator==(const GitWriteBackRecord&) const = default;
};

// Everything the controller keeps about one Rollout; serialisable (rollout_state_to_json).
inline constexpr size_t kKeptAnalysisRuns = 8;

// One gate webhook call and its answer: the evidence (RolloutState::webhook_calls). Never the
// URL (it may carry a token).
struct WebhookCallRecord {
  std::string key;  // the gate (strategies::WebhookCall::key); "" for `event` calls
  std::string name;
  std::string type;
  int64_t revision = 0;
  TimePoint at{};            // when the answer came
  int64_t duration_ms = 0;   // from the call to its answer
  int status = 0;            // HTTP status; 0: no answer
  bool ok = false;           // 2xx
  std::string body;          // the first kWebhookBodyExcerpt bytes, printable ASCII
  std::string error;         // why there was no answer ("timed out after 10000ms (...)")
  bool operator==(const WebhookCallRecord&) const = default;
};
// Kept per (revision, webhook name), newest last; only revisions still in the history.
inline constexpr size_t kKeptWebhookCalls = 10;
inline constexpr size_t kWebhookBodyExcerpt = 512;

struct RolloutState {
  std::string name;
  manifests::RolloutSpec spec;                         // current desired spec from Git
  std::string commit;                                  // the commit that last changed the spec
  std::optional<manifests::PodTemplate> git_template;  // last template seen in Git
  int64_t next_revision = 1;
  std::vector<RevisionRecord> revisions;  // oldest first, bounded by revisionHistoryLimit
  strategies::RolloutStatus status;
  // The analysis runs of this Rollout with their measurements, newest last (at most
  // kKeptAnalysisRuns): the evidence of its steps. Persisted with the state, shown in the rollout
  // object after a restart, and handed back to the runner (AnalysisRunSpec::resume) so a
  // restarted run goes on from its measurements instead of from zero.
  std::vector<analysis::AnalysisRunStatus> analysis_runs;
  // Why what runs is not Git's template after an undo ("undo to revision 2 (2.0.0) by alice"):
  // the rollout object's sync.reason (controller/undo_sync.h). Set by each undo, cleared by a
  // commit that changes the template. Persisted ("undoNote"; absent in older records).
  std::string undo_note;
  // Gate webhook calls with their answers (the evidence; persisted, "webhookCalls"): at most
  // kKeptWebhookCalls per revision and webhook, oldest first.
  std::vector<WebhookCallRecord> webhook_calls;
  // The write-back of the last automatic abort that asked for one ("gitWriteBack"; absent in
  // older records).
  std::optional<GitWriteBackRecord> git_write_back;
  bool operator==(const RolloutState& o) const;
  const RevisionRecord* revision(int64_t n) const;
};

nlohmann::json rollout_state_to_json(const RolloutState& s);
// The rollout object's `gitWriteBack`: null, or {revision, result: Pending | Pushed | AlreadyInGit
// | GaveUp, requestedAt, finishedAt, commit, revertCommit, message} (git_write_back.cc).
nlohmann::json git_write_back_json(const RolloutState& s);
Result<RolloutState> rollout_state_from_json(const nlohmann::json& j);

// What the controller asks of the Git write-back, and its answer (gitops::GitWriter in serve).
struct GitWriteBackRequest {
  std::string rollout;
  int64_t revision = 0;
  std::string version;
  std::string commit;
  std::string reason;
  int64_t stable_revision = 0;
  std::string stable_version;
  manifests::PodTemplate stable_template;
  TimePoint time{};
};
struct GitWriteBackOutcome {
  Status status;            // not OK: given up, with the reason
  bool pushed = false;      // false with an OK status: Git already said stable
  std::string commit;       // the revert commit pushed or found
  std::string reverted_commit;
  std::string file;
  int attempts = 0;
};
struct GitWriteBackDeps {
  std::string default_on_abort = "none";  // the server's gitWriteBack.onAbort: revert | none
  // Runs the write-back off the controller thread. `done` may be called on any thread, once;
  // the controller posts it to its scheduler.
  std::function<void(const GitWriteBackRequest&, std::function<void(GitWriteBackOutcome)> done)>
      start;
};

struct ControllerDeps {
  Clock& clock;
  Scheduler& scheduler;
  runtime::Runtime& runtime;
  traffic::Router& router;
  analysis::AnalysisRunner& analysis;
  EventSink& sink;
  // Makes gate webhook calls (spec.webhooks). Optional: without one, every call is answered at
  // once with an error (a pre-rollout gate then aborts, a confirm gate keeps waiting).
  WebhookCaller* webhooks = nullptr;
  // Optional (nullptr: no write-back): Git write-back after an automatic abort.
  const GitWriteBackDeps* git_write_back = nullptr;
};

// A read model published after changes (coalesced), handed to the facade; immutable once
// published, so any thread may read it.
struct ReadModel {
  std::map<std::string, std::shared_ptr<const nlohmann::json>> rollouts;  // name -> api.md object
  std::map<std::string, std::shared_ptr<const nlohmann::json>> history;   // name -> {"items"}
  // (rollout, revision, metric, phase) -> measurements taken. Only revisions still in the
  // rollout's history: a revision that leaves it takes its series along (bounded cardinality).
  std::map<std::tuple<std::string, int64_t, std::string, std::string>, uint64_t> measurements;
  // The phase of each metric of each analysis run shown in the rollout object (revisions still
  // in history only), per rollout: sluice_analysis_run_metric_phase.
  struct MetricPhase {
    int64_t revision = 0;
    std::string run;
    std::string metric;
    std::string phase;
  };
  std::map<std::string, std::vector<MetricPhase>> analysis_metric_phases;
  // (rollout, reason of the event that aborted) -> aborts since this process started.
  std::map<std::pair<std::string, std::string>, uint64_t> aborts;
  uint64_t reconciles = 0;
  double reconcile_seconds_sum = 0;
  std::vector<std::pair<double, uint64_t>> reconcile_buckets;  // (le, cumulative count)
  // Empty while every record is durable; otherwise why the controller holds (/readyz says it).
  std::string not_durable;
};

inline constexpr Duration kDurabilityRetryInitial{250};
inline constexpr Duration kDurabilityRetryMax{10'000};

class Controller {
 public:
  explicit Controller(ControllerDeps deps);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Rebuilds state from a snapshot (may be null) and the records appended after it. Call before
  // apply_desired(). Records are those produced by this class (see docs/ARCHITECTURE.md, State).
  // Then reconciles the runtime's own records with that state: instances the runtime keeps (and
  // adopts or restarts) for a Rollout the state does not know (its records were cut by a journal
  // repair or lost) are stopped, each such Rollout with one Warning event
  // `UnknownInstancesStopped` and a log line. Instances of unknown revisions of known Rollouts
  // are scaled to zero by their Rollout's first reconcile.
  Status recover(const nlohmann::json* snapshot, const std::vector<nlohmann::json>& records);
  // The whole state as one JSON value (a snapshot; also what tests compare after replay).
  nlohmann::json snapshot() const;

  // The runtime the controller drives. Its read_logs() may be called from any thread.
  const runtime::Runtime& runtime() const { return deps_.runtime; }

  // A new commit's manifests: new revisions for changed templates, specs updated in place,
  // pruned Rollouts removed. Queues every Rollout.
  void apply_desired(const DesiredState& desired);

  // Operator verbs. kNotFound, kFailedPrecondition (wrong state, nothing changes),
  // kInvalidArgument (undo to an unknown revision).
  Result<nlohmann::json> command(const VerbRequest& request);

  // Queues a reconcile of one rollout (runtime/analysis listeners call this, on this thread).
  void enqueue(const std::string& rollout);

  std::optional<nlohmann::json> rollout_json(const std::string& name) const;
  const std::map<std::string, RolloutState>& states() const { return states_; }
  const std::vector<nlohmann::json>& events() const { return events_; }
  uint64_t last_event_id() const { return next_event_id_ - 1; }

  // Called after every published change (facade snapshots) and for each new event.
  void set_on_publish(std::function<void(std::shared_ptr<const ReadModel>)> fn) {
    on_publish_ = std::move(fn);
  }
  void set_on_event(std::function<void(const nlohmann::json&)> fn) { on_event_ = std::move(fn); }
  // Maps a commit to the directory its revision's workingDir is relative to (the lead wires the
  // gitops checkout here; default: "").
  void set_checkout_resolver(std::function<std::string(const std::string& commit)> fn) {
    checkout_dir_ = std::move(fn);
  }
  // Publishes the read model now (normally coalesced after changes).
  void publish_now();
  // Bound on events kept in memory for the read model (the journal keeps all).
  void set_event_limit(size_t n) { event_limit_ = n; }

  WorkQueue& queue() { return queue_; }

  // OK while every record is durable; otherwise why the controller holds (see the top).
  Status durability() const { return held_ ? held_->error : Status::ok(); }

 private:
  // Flushes the sink; false when that failed (or the controller already holds): the caller must
  // not act. Starts holding on a failure.
  bool make_durable();
  void hold(const Status& error);
  void retry_durability();
  // The next event id, reserving a new block of ids with the sink first when the reserved ones
  // are used up (EventSink::reserve_event_ids).
  uint64_t take_event_id();
  void stop_unknown_instances();
  // Copies the runner's status of this Rollout's runs into state.analysis_runs; true when that
  // changed the state (a new measurement, a new phase), which must then be recorded.
  bool capture_analysis_runs(RolloutState& state);
  ReconcileResult reconcile(const std::string& name);
  strategies::Observed observe(const RolloutState& state);
  void record(RolloutState& state, const strategies::Transition& t, const std::string& actor,
              strategies::Phase from, const nlohmann::json& evidence);
  void record_state(RolloutState& state);
  // Git write-back (git_write_back.cc). ask_git_write_back: on an automatic abort of the update
  // revision, before its record; start_git_write_back: after the rollout's records are durable;
  // git_write_back_done: the outcome, on the controller thread.
  void ask_git_write_back(RolloutState& state, const std::string& reason);
  void start_git_write_back(RolloutState& state);
  void git_write_back_done(const std::string& rollout, int64_t revision,
                           const GitWriteBackOutcome& outcome);
  std::set<std::string> write_backs_in_flight_;  // rollouts whose write-back runs now
  // Counts one abort of `rollout` for sluice_rollout_aborts_total (reason: the event's reason).
  void count_abort(const std::string& rollout, const std::string& reason) {
    ++aborts_[{rollout, reason}];
  }
  // Drops the metric series of revisions no longer in the rollout's history.
  void refresh_metric_series(const RolloutState& state, const nlohmann::json& rollout_json);
  void act(RolloutState& state, const strategies::Decision& d,
           const strategies::Observed& observed);
  // Gate webhooks (webhook_calls.cc): starts a decided call unless it is in flight; the answer
  // is posted back to on_webhook_answer. `event` webhooks get every recorded event.
  void start_webhook_call(RolloutState& state, const strategies::WebhookCall& call);
  void send_event_webhooks(const RolloutState& state, const nlohmann::json& event);
  void call_webhook(const RolloutState& state, const manifests::Webhook& hook, int64_t revision,
                    const std::string& key, nlohmann::json body,
                    std::function<void(RolloutState&, const WebhookCallRecord&)> then);
  nlohmann::json webhook_body(const RolloutState& state, const manifests::Webhook& hook,
                              int64_t revision) const;
  nlohmann::json webhooks_json(const RolloutState& state) const;
  Status route(RolloutState& state, const strategies::Decision& d);
  // Keeps Runtime::router_error in step with the last apply: one Warning event when an error
  // starts (not per retry), one Normal event when it clears.
  void note_router_result(RolloutState& state, const Status& applied);
  manifests::RolloutSpec effective_spec(const RolloutState& state) const;
  void refresh_read_model(const RolloutState& state);
  void delete_rollout(const std::string& name);
  nlohmann::json evidence_for(const RolloutState& state, const strategies::Transition& t) const;
  void new_revision(RolloutState& state, const manifests::RolloutSpec& spec,
                    const std::string& commit, const std::string& author, const std::string& why,
                    bool fast_track);
  bool within_rollback_window(const RolloutState& state, const manifests::PodTemplate& t) const;
  void trim_history(RolloutState& state);
  void schedule_publish();
  nlohmann::json build_rollout_json(const RolloutState& state) const;
  nlohmann::json build_history_json(const RolloutState& state) const;
  std::string run_name(const std::string& rollout, const std::string& key) const {
    return rollout + "-" + key;
  }

  ControllerDeps deps_;
  WorkQueue queue_;
  std::map<std::string, RolloutState> states_;
  std::map<std::string, manifests::AnalysisTemplate> templates_;
  // False after a restart until the source re-delivers the desired state: analysis templates
  // are not persisted, so no analysis may start before it (it would run without metrics).
  bool templates_known_ = false;
  // Rollouts gone from the applied commit but kept running because their spec has prune: false.
  // Derived from each applied commit (not persisted: the first commit after a restart re-derives
  // it); shown as "orphaned" in the rollout object.
  std::set<std::string> orphaned_;
  std::vector<nlohmann::json> events_;
  size_t event_limit_ = 10'000;
  uint64_t next_event_id_ = 1;
  uint64_t reserved_event_ids_ = 0;  // ids below this are durably reserved by the sink

  // In-memory observations (not persisted: rebuilt by the next reconcile).
  struct Runtime {
    std::map<int64_t, int> weights;  // last route weights applied successfully
    std::optional<traffic::RouteTable> table;
    std::map<std::string, strategies::AnalysisRequest> analyses;  // key -> running request
    std::set<std::string> hooks_started;
    std::map<int64_t, std::string> roles;
    std::map<int64_t, int> scaled;
    // False until this process has acted on the rollout: until then status.replicas may differ
    // from what the runtime keeps (reconcile() starts from the observed levels).
    bool levels_told = false;
    std::vector<std::string> shown_runs;  // run names shown in analysisRuns (newest last)
    std::vector<runtime::InstanceStatus> instances;
    // Set while the router refuses the desired table (the step is held); cleared when a table is
    // applied or nothing remains to apply. Reported as the rollout object's `router` field.
    struct RouterError {
      std::string message;
      TimePoint since{};
      int failures = 0;  // consecutive failed applies
    };
    std::optional<RouterError> router_error;
    // Sluice's own probe resource errors already reported, per instance, and when the last
    // ProbeResourceError event was recorded (at most one a minute per rollout).
    std::map<std::string, uint64_t> probe_resource_errors;
    TimePoint probe_resource_event_at{};
    // Revisions whose ConsumersExceedPartitions warning is recorded (also found in events_
    // after a restart).
    std::set<int64_t> partition_warnings;
    // Gate webhook calls in flight: gate key -> seq (one per gate), and `event` calls.
    std::map<std::string, int> webhooks_in_flight;
    int event_webhooks_in_flight = 0;
  };
  std::map<std::string, Runtime> live_;
  // Records a ProbeResourceError event when an instance's count of Sluice's own probe errors grew.
  // True when it recorded one.
  bool note_probe_resource_errors(RolloutState& state, Runtime& live);
  // Records one ConsumersExceedPartitions Warning per revision when a kafka measurement of its
  // analysis runs reports fewer topic partitions than the consumers the strategy may run at
  // once (consumer_partitions.cc). True when it recorded one.
  bool note_consumers_exceed_partitions(RolloutState& state, Runtime& live);
  // Set while the sink is not durable (see the top of this file).
  struct Held {
    Status error;
    TimePoint since{};
    int retries = 0;  // failed retries so far
    Scheduler::TimerId timer = 0;
  };
  std::optional<Held> held_;
  // Outside effects whose records are appended but not durable yet, in order: carried out when
  // the sink recovers (a pruned Rollout's scale-down, instances unknown to the state).
  std::vector<std::function<void()>> held_actions_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::function<void(std::shared_ptr<const ReadModel>)> on_publish_;
  std::function<void(const nlohmann::json&)> on_event_;
  std::function<std::string(const std::string&)> checkout_dir_;
  std::map<std::string, std::shared_ptr<const nlohmann::json>> rollout_json_;
  std::map<std::string, std::shared_ptr<const nlohmann::json>> history_json_;
  bool publish_pending_ = false;
  // Each rollout's phase in the last published read model (refresh_read_model() publishes early
  // rather than coalesce a phase away).
  std::map<std::string, std::string> published_phase_;
  std::map<std::tuple<std::string, int64_t, std::string, std::string>, uint64_t> measurements_;
  std::map<std::string, std::map<std::string, uint64_t>> measured_;  // run -> metric/phase -> n
  std::map<std::string, std::vector<ReadModel::MetricPhase>> analysis_metric_phases_;
  std::map<std::pair<std::string, std::string>, uint64_t> aborts_;
  uint64_t reconciles_ = 0;
  double reconcile_seconds_sum_ = 0;
  std::map<double, uint64_t> reconcile_buckets_;
};

}  // namespace sluice::controller
