// One reconcile pass: observe -> decide -> record (flushed) -> act -> route; and the read model.
#include <algorithm>
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "controller/controller.h"
#include "controller/spec_json.h"
#include "controller/undo_sync.h"
#include "runtime/scale_down_order.h"
#include "strategies/verbs.h"

namespace sluice::controller {

using nlohmann::json;
namespace an = analysis;

namespace {

strategies::Verdict verdict_of(an::AnalysisPhase phase) {
  switch (phase) {
    case an::AnalysisPhase::kSuccessful:
      return strategies::Verdict::kSuccessful;
    case an::AnalysisPhase::kFailed:
      return strategies::Verdict::kFailed;
    case an::AnalysisPhase::kInconclusive:
      return strategies::Verdict::kInconclusive;
    case an::AnalysisPhase::kError:
      return strategies::Verdict::kError;
    default:
      return strategies::Verdict::kRunning;
  }
}

// Local names (healthcheck owns analysis::phase_name/to_json; these keep the controller's JSON
// independent of that library's build).
const char* analysis_phase(an::AnalysisPhase phase) {
  switch (phase) {
    case an::AnalysisPhase::kPending:
      return "Pending";
    case an::AnalysisPhase::kRunning:
      return "Running";
    case an::AnalysisPhase::kSuccessful:
      return "Successful";
    case an::AnalysisPhase::kFailed:
      return "Failed";
    case an::AnalysisPhase::kInconclusive:
      return "Inconclusive";
    case an::AnalysisPhase::kError:
      return "Error";
  }
  return "Unknown";
}

json run_json(const an::AnalysisRunStatus& run) {
  json metrics = json::array();
  for (const auto& m : run.metrics) {
    json measurements = json::array();
    for (const auto& x : m.measurements) {
      json value = x.value ? json(*x.value) : (x.values.empty() ? json(nullptr) : json(x.values));
      measurements.push_back({{"value", value},
                              {"phase", analysis_phase(x.phase)},
                              {"at", format_rfc3339(x.finished_at)},
                              {"query", x.query},
                              {"message", x.message}});
    }
    metrics.push_back({{"name", m.name},
                       {"phase", analysis_phase(m.phase)},
                       {"dryRun", m.dry_run},
                       {"message", m.message},
                       {"successCondition", m.success_condition},
                       {"failureCondition", m.failure_condition},
                       {"measurements", measurements}});
  }
  return {{"name", run.name},
          {"revision", run.revision},
          {"phase", analysis_phase(run.phase)},
          {"message", run.message},
          {"metrics", metrics}};
}

json instance_json(const runtime::InstanceStatus& i) {
  json exit = nullptr;
  if (i.last_exit) {
    exit = {{"exitCode", i.last_exit->exit_code ? json(*i.last_exit->exit_code) : json(nullptr)},
            {"signal", i.last_exit->signal ? json(*i.last_exit->signal) : json(nullptr)},
            {"description", i.last_exit->description}};
  }
  return {{"id", i.id},
          {"revision", i.revision},
          {"ready", i.ready},
          {"restarts", i.restarts},
          {"crashLoop", i.crash_loop},
          {"lastExit", exit},
          {"lastError", i.last_error}};
}

// The instances a runtime stops to bring each revision down to `targets` (revision -> instances
// asked for), given the instances it shows now: per revision, the surplus of running
// (non-terminating) instances, picked by the rule every runtime follows
// (runtime/scale_down_order.h).
std::set<std::string> stopping_for(const std::vector<runtime::InstanceStatus>& instances,
                                   const std::map<int64_t, int>& targets) {
  std::map<int64_t, std::vector<const runtime::InstanceStatus*>> active;
  for (const auto& inst : instances) {
    if (!inst.terminating) active[inst.revision].push_back(&inst);
  }
  std::set<std::string> stopping;
  for (const auto& [revision, list] : active) {
    auto target = targets.find(revision);
    if (target == targets.end()) continue;
    const size_t keep = static_cast<size_t>(std::max(0, target->second));
    if (list.size() <= keep) continue;
    std::vector<runtime::ScaleDownCandidate> candidates;
    for (const auto* inst : list) candidates.push_back(runtime::scale_down_candidate(*inst));
    const std::vector<size_t> order = runtime::scale_down_order(candidates);
    for (size_t k = 0; k < list.size() - keep; ++k) stopping.insert(list[order[k]]->id);
  }
  return stopping;
}

runtime::InstanceRole role_of(const std::string& role) {
  if (role == "stable") return runtime::InstanceRole::kStable;
  if (role == "preview") return runtime::InstanceRole::kPreview;
  return runtime::InstanceRole::kCanary;
}

}  // namespace

bool Controller::note_probe_resource_errors(RolloutState& state, Runtime& live) {
  json grown = json::array();
  for (const auto& inst : live.instances) {
    uint64_t& seen = live.probe_resource_errors[inst.id];
    if (inst.probe_resource_errors > seen) {
      grown.push_back({{"instance", inst.id},
                       {"revision", inst.revision},
                       {"errors", inst.probe_resource_errors - seen},
                       {"last", inst.last_probe_resource_error}});
    }
  }
  const TimePoint now = deps_.clock.now();
  if (grown.empty() || (live.probe_resource_event_at != TimePoint{} &&
                        now - live.probe_resource_event_at < Duration(60'000))) {
    return false;  // nothing new, or reported less than a minute ago (counted meanwhile)
  }
  for (const auto& inst : live.instances) {
    live.probe_resource_errors[inst.id] = inst.probe_resource_errors;
  }
  live.probe_resource_event_at = now;
  strategies::Transition t;
  t.reason = "ProbeResourceError";
  t.revision = grown[0]["revision"].get<int64_t>();
  t.message = fmt::format(
      "Sluice could not run {} probe attempt(s) of instance {} for lack of its own resources ({}); "
      "not counted against the instance{}",
      grown[0]["errors"].get<uint64_t>(), grown[0]["instance"].get<std::string>(),
      grown[0]["last"].get<std::string>(),
      grown.size() > 1 ? fmt::format(", nor against {} other instance(s)", grown.size() - 1)
                       : std::string());
  record(state, t, "runtime", state.status.phase, json{{"probeResourceErrors", grown}});
  return true;
}

strategies::Observed Controller::observe(const RolloutState& state) {
  strategies::Observed obs;
  Runtime& live = live_[state.name];
  live.instances = deps_.runtime.observe(state.name);
  for (const auto& inst : live.instances) {
    if (inst.terminating) continue;
    auto& rev = obs.revisions[inst.revision];
    rev.instances += 1;
    if (inst.ready) {
      rev.ready += 1;
      rev.ready_since.push_back(inst.ready_since);
    }
    if (inst.crash_loop && !rev.crash_loop) {
      rev.crash_loop = true;
      rev.failure = fmt::format("instance {}: {}", inst.id,
                                inst.last_exit ? inst.last_exit->description : inst.last_error);
    }
  }
  for (auto& [number, rev] : obs.revisions) {
    if (const RevisionRecord* r = state.revision(number)) {
      rev.has_activate_hook = r->spec.template_.lifecycle.activate.has_value();
      rev.has_deactivate_hook = r->spec.template_.lifecycle.deactivate.has_value();
    }
  }
  for (const auto& [key, request] : live.analyses) {
    const std::string name = run_name(state.name, key);
    auto status = deps_.analysis.status(name);
    if (!status) continue;
    obs.analyses[key] = {verdict_of(status->phase), status->message};
    for (const auto& m : status->metrics) {
      std::map<std::string, uint64_t> counts;
      for (const auto& x : m.measurements) counts[analysis_phase(x.phase)] += 1;
      for (const auto& [phase, n] : counts) {
        uint64_t& seen = measured_[name][m.name + "/" + phase];
        if (n > seen) {
          measurements_[{state.name, request.revision, m.name, phase}] += n - seen;
          seen = n;
        }
      }
    }
  }
  // Requests whose templates are missing were never started: report them as errors (data).
  obs.applied_weights = live.weights;
  if (live.table && !live.table->header_routes.empty()) {
    manifests::SetHeaderRoute hr;
    hr.name = live.table->header_routes[0].name;
    hr.match = live.table->header_routes[0].match;
    obs.applied_header_route = hr;
  }
  return obs;
}

json Controller::evidence_for(const RolloutState& state, const strategies::Transition& t) const {
  json evidence = json::object();
  if (!t.analysis_key.empty()) {
    if (auto status = deps_.analysis.status(run_name(state.name, t.analysis_key))) {
      evidence["analysisRun"] = run_json(*status);
    } else {
      evidence["analysisRun"] = {{"name", run_name(state.name, t.analysis_key)}};
    }
  }
  if (!t.hook_key.empty()) {
    evidence["hook"] = {{"key", t.hook_key}, {"ok", false}, {"results", t.hook_message}};
  }
  if (!t.webhook_key.empty()) {
    // The gate webhook's calls of this attempt, with their answers (never the URL).
    const json all = webhooks_json(state).at("webhookCalls");
    json calls = json::array();
    std::string name;
    for (size_t i = 0; i < state.webhook_calls.size(); ++i) {
      if (state.webhook_calls[i].key == t.webhook_key) {
        calls.push_back(all.at(i));
        name = state.webhook_calls[i].name;
      }
    }
    evidence["webhook"] = {{"name", name}, {"calls", calls}};
  }
  if (t.instances_of != 0) {
    json instances = json::array();
    auto it = live_.find(state.name);
    if (it != live_.end()) {
      for (const auto& inst : it->second.instances) {
        if (inst.revision == t.instances_of) instances.push_back(instance_json(inst));
      }
    }
    evidence["instances"] = instances;
  }
  return evidence;
}

namespace {
// Whether two statuses of one run differ in what the evidence shows (phase, verdict, counts,
// measurements); cheaper than comparing their JSON on every reconcile.
bool same_run(const an::AnalysisRunStatus& a, const an::AnalysisRunStatus& b) {
  if (a.phase != b.phase || a.message != b.message || a.finished_at != b.finished_at ||
      a.metrics.size() != b.metrics.size())
    return false;
  for (size_t i = 0; i < a.metrics.size(); ++i) {
    const auto& x = a.metrics[i];
    const auto& y = b.metrics[i];
    if (x.name != y.name || x.phase != y.phase || x.count != y.count || x.message != y.message ||
        x.measurements.size() != y.measurements.size())
      return false;
    if (!x.measurements.empty() &&
        x.measurements.back().finished_at != y.measurements.back().finished_at)
      return false;
  }
  return true;
}

// The revision of run `run` of `rollout`: run names are "<rollout>-r<revision>.a<attempt>.<what>"
// (run_name, AnalysisRequest::key). nullopt for a name of that shape of another rollout.
std::optional<int64_t> revision_of_run(const std::string& rollout, const std::string& run) {
  const std::string prefix = rollout + "-r";
  if (run.rfind(prefix, 0) != 0) return std::nullopt;
  int64_t revision = 0;
  size_t i = prefix.size();
  for (; i < run.size() && run[i] >= '0' && run[i] <= '9'; ++i)
    revision = revision * 10 + (run[i] - '0');
  if (i == prefix.size() || run.compare(i, 2, ".a") != 0) return std::nullopt;
  return revision;
}

}  // namespace

bool Controller::capture_analysis_runs(RolloutState& state) {
  auto live = live_.find(state.name);
  if (live == live_.end()) return false;
  bool changed = false;
  for (const auto& [key, request] : live->second.analyses) {
    auto status = deps_.analysis.status(run_name(state.name, key));
    if (!status) continue;
    auto it = std::find_if(state.analysis_runs.begin(), state.analysis_runs.end(),
                           [&](const an::AnalysisRunStatus& r) { return r.name == status->name; });
    if (it == state.analysis_runs.end()) {
      // A run this rollout had not seen: one event (Argo Rollouts' AnalysisRunRunning), so
      // watchers and notifications (on-analysis-run-running) learn that analysis began. The
      // recorded state already holds the run.
      strategies::Transition t;
      t.reason = "AnalysisRunStarted";
      t.revision = request.revision;
      t.message = fmt::format("analysis run {} started for revision {}", status->name,
                              request.revision);
      const json evidence = {
          {"analysisRun", {{"name", status->name}, {"phase", analysis_phase(status->phase)}}}};
      state.analysis_runs.push_back(std::move(*status));
      if (state.analysis_runs.size() > kKeptAnalysisRuns)
        state.analysis_runs.erase(state.analysis_runs.begin());
      record(state, t, "controller", state.status.phase, evidence);
      changed = true;
    } else if (!same_run(*it, *status)) {
      *it = std::move(*status);
      changed = true;
    }
  }
  return changed;
}

ReconcileResult Controller::reconcile(const std::string& name) {
  auto it = states_.find(name);
  if (it == states_.end()) return {};
  // Holding (not durable): no decision either; retry_durability() queues every Rollout again.
  if (held_) return {};
  const auto started = std::chrono::steady_clock::now();  // metric only, never a decision input
  RolloutState& state = it->second;
  const strategies::Observed observed = observe(state);
  const bool runs_changed = capture_analysis_runs(state);
  Runtime& live = live_[name];
  strategies::RolloutStatus levels = state.status;
  if (!live.levels_told) {
    // The first pass of this process: the runtime keeps what it runs, which is not necessarily
    // what the last durable decision asked for (a crash between recording a decision and acting
    // on it leaves them apart; the decision may have been right only for the world of then, e.g.
    // dropping instances that were unready and have become ready since). The strategy moves
    // from the levels the runtime really holds.
    levels.replicas.clear();
    for (const auto& [revision, o] : observed.revisions) {
      if (o.instances > 0) levels.replicas[revision] = o.instances;
    }
  }
  const strategies::Decision d =
      strategies::decide(effective_spec(state), levels, observed, deps_.clock.now());
  const bool changed = !(d.status == state.status);
  strategies::Phase from = state.status.phase;
  std::optional<std::string> auto_abort;  // an abort decided here, not by the abort verb
  if (!state.status.aborted && d.status.aborted && !d.transitions.empty()) {
    // The transition that aborted carries the abort's message (mark_aborted); later ones in the
    // same decision may have replaced status.message, so fall back to the last.
    const strategies::Transition* abort = &d.transitions.back();
    for (const auto& t : d.transitions) {
      if (t.message == d.status.message) {
        abort = &t;
        break;
      }
    }
    count_abort(state.name, abort->reason);
    auto_abort = abort->reason + ": " + abort->message;
  }
  state.status = d.status;
  if (auto_abort) ask_git_write_back(state, *auto_abort);
  for (const auto& t : d.transitions) {
    for (auto& r : state.revisions) {
      if (r.number != t.revision) continue;
      if (t.reason == "RolloutCompleted") {
        r.result = "Completed";
        r.reason = t.message;
      } else if (state.status.aborted && r.number == state.status.update_revision &&
                 r.result.empty()) {
        r.result = "Aborted";
        r.reason = t.message;
      }
    }
    record(state, t, "controller", from, evidence_for(state, t));
    from = state.status.phase;
  }
  if ((changed || runs_changed) && d.transitions.empty()) record_state(state);
  bool noted = note_probe_resource_errors(state, live);
  if (note_consumers_exceed_partitions(state, live)) noted = true;
  if ((changed || runs_changed || noted || !d.transitions.empty()) && !make_durable()) {
    // Nothing acts on a decision that is not durable.
    refresh_read_model(state);
    schedule_publish();
    return {};
  }

  act(state, d, observed);
  live.levels_told = true;
  start_git_write_back(state);  // a no-op unless a write-back is pending and not running
  const Status routed = route(state, d);
  refresh_read_model(state);
  schedule_publish();

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  reconciles_ += 1;
  reconcile_seconds_sum_ += seconds;
  for (double le : {0.0001, 0.001, 0.01, 0.1, 1.0}) {
    if (seconds <= le) reconcile_buckets_[le] += 1;
  }
  ReconcileResult result;
  result.requeue_after = d.requeue_after;
  if (!routed.is_ok()) result.status = routed;
  return result;
}

void Controller::act(RolloutState& state, const strategies::Decision& d,
                     const strategies::Observed& observed) {
  Runtime& live = live_[state.name];
  auto spec_for = [&](int64_t revision) {
    runtime::RevisionSpec spec;
    spec.rollout = state.name;
    spec.revision = revision;
    const RevisionRecord* r = state.revision(revision);
    spec.pod = r ? r->spec.template_ : state.spec.template_;
    spec.commit = r ? r->commit : state.commit;
    spec.checkout_dir = checkout_dir_ ? checkout_dir_(spec.commit) : "";
    auto role = d.roles.find(revision);
    spec.role = role_of(role == d.roles.end() ? "canary" : role->second);
    return spec;
  };
  // Scale: every revision in the decision, and to zero every other revision that has instances.
  std::set<int64_t> revisions;
  for (const auto& [rev, n] : d.replicas) revisions.insert(rev);
  for (const auto& [rev, o] : observed.revisions) revisions.insert(rev);
  for (const auto& [rev, n] : live.scaled) revisions.insert(rev);
  for (int64_t rev : revisions) {
    auto want = d.replicas.find(rev);
    const int n = want == d.replicas.end() ? 0 : want->second;
    auto had = live.scaled.find(rev);
    const bool known = had != live.scaled.end();
    if (known && had->second == n && n > 0 && observed.revision(rev).instances == n) continue;
    if (n == 0 && observed.revision(rev).instances == 0 && known && had->second == 0) continue;
    deps_.runtime.scale(spec_for(rev), n);
    live.scaled[rev] = n;
  }
  std::erase_if(live.scaled, [&](const auto& kv) {
    return kv.second == 0 && observed.revision(kv.first).instances == 0;
  });
  for (const auto& [rev, role] : d.roles) {
    auto had = live.roles.find(rev);
    if (had != live.roles.end() && had->second == role) continue;
    deps_.runtime.set_role(state.name, rev, role_of(role));
    live.roles[rev] = role;
  }
  // Analyses: start what should run, stop what should not.
  std::set<std::string> wanted;
  for (const auto& req : d.analyses) {
    wanted.insert(req.key);
    if (live.analyses.count(req.key)) continue;
    // Not yet after a restart: apply_desired() delivers the templates and enqueues every
    // rollout, so this runs again; meanwhile the step waits for its analysis.
    if (!templates_known_) continue;
    an::AnalysisRunSpec spec;
    spec.name = run_name(state.name, req.key);
    spec.rollout = state.name;
    spec.stable_revision = req.stable_revision;
    spec.canary_revision = req.revision;
    if (const RevisionRecord* r = state.revision(req.stable_revision)) {
      spec.stable_version = r->spec.template_.version;
    }
    if (const RevisionRecord* r = state.revision(req.revision)) {
      spec.canary_version = r->spec.template_.version;
    }
    for (const auto& ref : req.analysis.templates) {
      auto t = templates_.find(ref.template_name);
      if (t != templates_.end()) spec.templates.push_back(t->second);
    }
    spec.args = req.analysis.args;
    spec.background = req.kind == strategies::AnalysisKind::kBackground;
    for (const auto& earlier : state.analysis_runs) {
      if (earlier.name == spec.name) spec.resume = std::make_shared<an::AnalysisRunStatus>(earlier);
    }
    deps_.analysis.start(spec);
    live.analyses[req.key] = req;
    live.shown_runs.push_back(spec.name);
    if (live.shown_runs.size() > 8) live.shown_runs.erase(live.shown_runs.begin());
  }
  for (auto a = live.analyses.begin(); a != live.analyses.end();) {
    if (wanted.count(a->first)) {
      ++a;
      continue;
    }
    deps_.analysis.terminate(run_name(state.name, a->first));
    a = live.analyses.erase(a);
  }
  // Hooks: each key runs once; the outcome comes back through the scheduler into status.
  for (const auto& hook : d.hooks) {
    if (state.status.hooks.count(hook.key) || live.hooks_started.count(hook.key)) continue;
    live.hooks_started.insert(hook.key);
    const runtime::HookKind kind = hook.action == strategies::HookAction::kActivate
                                       ? runtime::HookKind::kActivate
                                       : runtime::HookKind::kDeactivate;
    std::weak_ptr<bool> alive = alive_;
    const std::string rollout = state.name;
    const std::string key = hook.key;
    deps_.runtime.run_hook(
        state.name, hook.revision, kind,
        [this, alive, scheduler = &deps_.scheduler, rollout,
         key](std::vector<runtime::HookResult> results) {
          // The controller may be gone (restart); the scheduler outlives it. Only the posted
          // callback, on the controller thread, may look at `this`, after checking `alive`.
          if (alive.expired()) return;
          scheduler->post([this, alive, rollout, key, results = std::move(results)] {
            if (alive.expired() || !*alive.lock()) return;
            auto it = states_.find(rollout);
            if (it == states_.end()) return;
            strategies::HookOutcome outcome{true, ""};
            for (const auto& r : results) {
              if (!r.ok) {
                outcome.ok = false;
                outcome.message += fmt::format("{}: {}; ", r.instance_id, r.message);
              }
            }
            if (outcome.ok) outcome.message = fmt::format("{} instance(s) ok", results.size());
            it->second.status.hooks[key] = outcome;
            live_[rollout].hooks_started.erase(key);
            record_state(it->second);
            (void)make_durable();  // the reconcile it queues acts only once it is
            enqueue(rollout);
          });
        });
  }
  // Gate webhooks: one call per gate at a time, off the strand (webhook_calls.cc).
  for (const auto& call : d.webhook_calls) start_webhook_call(state, call);
}


Status Controller::route(RolloutState& state, const strategies::Decision& d) {
  Runtime& live = live_[state.name];
  const std::string listen = state.spec.service ? state.spec.service->listen : "";
  std::string preview_listen;
  std::optional<manifests::HaproxyRouting> haproxy;
  const manifests::RolloutSpec spec = effective_spec(state);
  if (const auto* bg = std::get_if<manifests::BlueGreenStrategy>(&spec.strategy)) {
    if (bg->preview) preview_listen = bg->preview->listen;
  }
  if (const auto* c = std::get_if<manifests::CanaryStrategy>(&spec.strategy)) {
    if (c->traffic_routing) haproxy = c->traffic_routing->haproxy;
  }
  const std::string target_port = state.spec.service ? state.spec.service->target_port : "http";
  // Endpoints come from the instances as they are after this pass acted, not from the
  // observation decide() saw: a scale-down in act() may have removed some already (a runtime
  // that scales synchronously), or is about to (LocalProcessRuntime scales on its own strand and
  // still shows them). Those the scale-downs asked for will stop are left out either way; the
  // runtime's before_stop drain covers the rest of the race.
  live.instances = deps_.runtime.observe(state.name);
  const std::set<std::string> stopping = stopping_for(live.instances, live.scaled);
  traffic::RouteTable table;
  table.rollout = state.name;
  table.listen = listen;
  table.preview_listen = preview_listen;
  table.haproxy = haproxy;
  std::map<int64_t, std::vector<traffic::Endpoint>> endpoints;
  for (const auto& inst : live.instances) {
    if (!inst.ready || inst.terminating || stopping.count(inst.id)) continue;
    int port = 0;
    if (auto p = inst.ports.find(target_port); p != inst.ports.end()) {
      port = p->second;
    } else if (!inst.ports.empty()) {
      port = inst.ports.begin()->second;
    }
    endpoints[inst.revision].push_back({inst.id, "127.0.0.1", port});
  }
  // Safety net: no weight on a revision without a ready endpoint while any listed revision (one
  // with weight or instances) has one; the weight moves to the revision with most endpoints.
  std::map<int64_t, int> weights = d.weights;
  int64_t best = 0;
  size_t best_n = 0;
  std::set<int64_t> candidates;
  for (const auto& [rev, w] : weights) candidates.insert(rev);
  for (const auto& [rev, n] : d.replicas) candidates.insert(rev);
  for (int64_t rev : candidates) {
    const size_t n = endpoints[rev].size();
    const bool better = n > best_n || (n == best_n && n > 0 && weights[rev] > weights[best]);
    if (better) {
      best = rev;
      best_n = n;
    }
  }
  if (best_n > 0) {
    for (auto& [rev, w] : weights) {
      if (rev != best && w > 0 && endpoints[rev].empty()) {
        weights[best] += w;
        w = 0;
      }
    }
  }
  std::erase_if(weights, [](const auto& kv) { return kv.second == 0; });
  if (weights.empty() && !d.weights.empty()) weights = d.weights;
  std::set<int64_t> listed;
  for (const auto& [rev, w] : weights) listed.insert(rev);
  for (const auto& [rev, n] : d.replicas) listed.insert(rev);
  for (int64_t rev : listed) {
    traffic::RevisionRoute r;
    r.revision = rev;
    const RevisionRecord* rec = state.revision(rev);
    r.version = rec ? rec->spec.template_.version : "";
    auto role = d.roles.find(rev);
    r.role = role == d.roles.end() ? "canary" : role->second;
    auto w = weights.find(rev);
    r.weight_percent = w == weights.end() ? 0 : w->second;
    r.ready_endpoints = endpoints[rev];
    table.revisions.push_back(std::move(r));
  }
  if (d.preview_revision) table.preview_revision = d.preview_revision;
  if (d.header_route) {
    table.header_routes.push_back(
        {d.header_route->name, d.header_route->match, state.status.update_revision});
  }
  if (listen.empty() && preview_listen.empty() && !haproxy) {
    // No front door (a pure consumer): the split is the split of instances; nothing to apply.
    live.weights = weights;
    live.table = table;
    note_router_result(state, Status::ok());
    return Status::ok();
  }
  if (live.table && *live.table == table) {
    note_router_result(state, Status::ok());  // e.g. an abort back to the table last applied
    return Status::ok();
  }
  Status applied = deps_.router.apply(table);
  note_router_result(state, applied);
  if (!applied.is_ok()) {
    return unavailable(fmt::format("router did not apply the route table: {}", applied.message()));
  }
  const bool weights_changed = live.weights != weights;
  live.table = table;
  live.weights = weights;
  // The strategy may be waiting for exactly these weights.
  if (weights_changed || d.header_route) queue_.add(state.name);
  return Status::ok();
}

void Controller::note_router_result(RolloutState& state, const Status& applied) {
  Runtime& live = live_[state.name];
  strategies::Transition t;
  t.revision = state.status.update_revision;
  if (!applied.is_ok()) {
    if (live.router_error) {
      live.router_error->message = applied.message();
      live.router_error->failures += 1;
      return;
    }
    live.router_error = Runtime::RouterError{applied.message(), deps_.clock.now(), 1};
    t.reason = "RouterError";
    t.message = fmt::format("the router did not apply the route table; the step is held: {}",
                            applied.message());
    record(state, t, "controller", state.status.phase, json::object());
    // Durable before anything else happens: the next outside effect (the retry's scale or
    // apply) may come from a pass that records nothing, and a crash must not lose an event that
    // was already streamed. A failure holds the controller.
    (void)make_durable();
    return;
  }
  if (!live.router_error) return;
  t.reason = "RouterRecovered";
  t.message = fmt::format("the router applied the route table after {} failed attempt(s)",
                          live.router_error->failures);
  live.router_error.reset();
  record(state, t, "controller", state.status.phase, json::object());
  (void)make_durable();
}

json Controller::build_rollout_json(const RolloutState& state) const {
  const auto& s = state.status;
  auto live_it = live_.find(state.name);
  const Runtime* live = live_it == live_.end() ? nullptr : &live_it->second;
  auto ready_of = [&](int64_t rev) {
    int n = 0;
    if (live) {
      for (const auto& i : live->instances) {
        if (i.revision == rev && i.ready && !i.terminating) ++n;
      }
    }
    return n;
  };
  auto replicas_of = [&](int64_t rev) {
    auto it = s.replicas.find(rev);
    return it == s.replicas.end() ? 0 : it->second;
  };
  auto version_of = [&](int64_t rev) -> std::string {
    const RevisionRecord* r = state.revision(rev);
    return r ? r->spec.template_.version : "";
  };
  const RevisionRecord* desired = state.revision(s.update_revision);
  json stable = nullptr;
  if (s.stable_revision != 0) {
    stable = {{"revision", s.stable_revision},
              {"version", version_of(s.stable_revision)},
              {"replicas", replicas_of(s.stable_revision)},
              {"ready", ready_of(s.stable_revision)}};
  }
  json canary = nullptr;
  if (s.in_progress()) {
    canary = {{"revision", s.update_revision},
              {"version", version_of(s.update_revision)},
              {"replicas", replicas_of(s.update_revision)},
              {"ready", ready_of(s.update_revision)}};
  }
  int stable_weight = 100;
  int canary_weight = 0;
  if (live && !live->weights.empty()) {
    stable_weight = 0;
    for (const auto& [rev, w] : live->weights) {
      if (rev == s.update_revision && s.in_progress()) {
        canary_weight += w;
      } else if (rev == s.stable_revision) {
        stable_weight += w;
      }
    }
    if (stable_weight + canary_weight != 100) stable_weight = 100 - canary_weight;
  }
  // The persisted runs (the evidence, also after a restart), each as the runner sees it now
  // when it still knows it, then runs started since the last capture.
  json runs = json::array();
  std::set<std::string> listed;
  for (const auto& persisted : state.analysis_runs) {
    listed.insert(persisted.name);
    auto st = deps_.analysis.status(persisted.name);
    runs.push_back(run_json(st ? *st : persisted));
  }
  if (live) {
    for (const auto& name : live->shown_runs) {
      if (listed.count(name)) continue;
      if (auto st = deps_.analysis.status(name)) runs.push_back(run_json(*st));
    }
  }
  // `instances`: what the runtime reports of each instance (never its env: it may hold secrets).
  json instances = json::array();
  if (live) {
    auto time_or_null = [](TimePoint t) {
      return t == TimePoint{} ? json(nullptr) : json(format_rfc3339(t));
    };
    for (const auto& i : live->instances) {
      auto role = live->roles.find(i.revision);
      json last_exit = nullptr;
      if (i.last_exit) {
        const auto& e = *i.last_exit;
        last_exit = {{"code", e.exit_code ? json(*e.exit_code) : json(nullptr)},
                     {"signal", e.signal ? json(*e.signal) : json(nullptr)},
                     {"reason", e.description},
                     {"at", time_or_null(e.at)}};
      }
      instances.push_back(
          {{"id", i.id},
           {"revision", i.revision},
           {"version", version_of(i.revision)},
           {"role", role != live->roles.end()            ? role->second
                    : i.revision == s.stable_revision ? "stable"
                                                        : "canary"},
           {"ready", i.ready},
           {"terminating", i.terminating},
           {"startedAt", i.pid != 0 ? time_or_null(i.started_at) : json(nullptr)},
           {"readySince", i.ready ? time_or_null(i.ready_since) : json(nullptr)},
           {"restarts", i.restarts},
           {"crashLoop", i.crash_loop},
           {"lastExit", last_exit},
           {"lastError", i.last_error}});
    }
  }
  const std::string phase =
      s.update_revision == 0 ? "Progressing" : strategies::phase_name(s.phase);
  // `router`: which router carries the Rollout and the error that holds the step, if any.
  std::string router_kind =
      state.spec.service && !state.spec.service->listen.empty() ? "builtin" : "none";
  const manifests::RolloutSpec spec = effective_spec(state);
  if (const auto* c = std::get_if<manifests::CanaryStrategy>(&spec.strategy)) {
    if (c->traffic_routing && c->traffic_routing->haproxy) router_kind = "haproxy";
  }
  if (const auto* bg = std::get_if<manifests::BlueGreenStrategy>(&spec.strategy)) {
    if (bg->preview && !bg->preview->listen.empty()) router_kind = "builtin";
  }
  json router = {{"kind", router_kind}, {"error", nullptr}, {"since", nullptr}, {"failures", 0}};
  std::string message = s.message;
  if (live && live->router_error) {
    const auto& e = *live->router_error;
    router["error"] = e.message;
    router["since"] = format_rfc3339(e.since);
    router["failures"] = e.failures;
    message = fmt::format("router error, step held: {}{}{}", e.message,
                          s.message.empty() ? "" : "; ", s.message);
  }
  // `durability`: null while every record is durable; otherwise why the controller holds.
  json durability = nullptr;
  if (held_) {
    durability = {{"error", held_->error.message()},
                  {"since", format_rfc3339(held_->since)},
                  {"retries", held_->retries}};
    message = fmt::format("state not durable, controller holds: {}{}{}", held_->error.message(),
                          message.empty() ? "" : "; ", message);
  }
  const json hooks = webhooks_json(state);
  return {{"name", state.name},
          {"phase", phase},
          {"aborted", s.aborted},
          {"message", message},
          {"router", router},
          {"durability", durability},
          {"strategy", manifests::strategy_kind_name(manifests::strategy_kind(
                           desired ? desired->spec.strategy : state.spec.strategy))},
          {"desired",
           {{"revision", s.update_revision},
            {"version", desired ? desired->spec.template_.version : state.spec.template_.version},
            {"commit", desired ? desired->commit : state.commit}}},
          {"stable", stable},
          {"canary", canary},
          {"weights", {{"stable", stable_weight}, {"canary", canary_weight}}},
          {"currentStepIndex", s.current_step_index},
          {"steps", manifest_steps_json(desired ? desired->spec.strategy : state.spec.strategy)},
          {"paused", s.operator_paused || state.spec.paused},
          {"orphaned", orphaned_.count(state.name) > 0},
          {"sync", sync_json(state)},
          {"undo", undo_json(state)},
          {"gitWriteBack", git_write_back_json(state)},
          {"analysisRuns", runs},
          {"webhooks", hooks.at("webhooks")},
          {"webhookCalls", hooks.at("webhookCalls")},
          {"instances", instances}};
}

json Controller::build_history_json(const RolloutState& state) const {
  json items = json::array();
  for (auto r = state.revisions.rbegin(); r != state.revisions.rend(); ++r) {
    std::string result = r->result;
    if (result.empty()) {
      result = r->number == state.status.stable_revision   ? "Completed"
               : r->number == state.status.update_revision ? "Progressing"
                                                           : "";
    }
    items.push_back({{"revision", r->number},
                     {"version", r->spec.template_.version},
                     {"commit", r->commit},
                     {"author", r->author},
                     {"createdAt", format_rfc3339(r->created)},
                     {"result", result},
                     {"reason", r->reason},
                     {"stable", r->number == state.status.stable_revision}});
  }
  return {{"items", items}};
}

std::optional<json> Controller::rollout_json(const std::string& name) const {
  auto it = states_.find(name);
  if (it == states_.end()) return std::nullopt;
  return build_rollout_json(it->second);
}

void Controller::refresh_read_model(const RolloutState& state) {
  auto next = std::make_shared<const json>(build_rollout_json(state));
  refresh_metric_series(state, *next);
  // Publishing coalesces, but never across a phase: a phase that reached the read model and was
  // not published yet is published before the next one replaces it, so a watcher (GET
  // /api/v1/stream/rollouts) sees every phase change.
  auto& current = rollout_json_[state.name];
  if (publish_pending_ && current) {
    const std::string pending_phase = current->value("phase", "");
    if (pending_phase != next->value("phase", "") &&
        pending_phase != published_phase_[state.name]) {
      publish_now();
    }
  }
  current = std::move(next);
  history_json_[state.name] = std::make_shared<const json>(build_history_json(state));
}

void Controller::refresh_metric_series(const RolloutState& state, const json& rollout_json) {
  std::set<int64_t> kept;
  for (const auto& r : state.revisions) kept.insert(r.number);
  std::erase_if(measurements_, [&](const auto& m) {
    return std::get<0>(m.first) == state.name && !kept.count(std::get<1>(m.first));
  });
  auto& phases = analysis_metric_phases_[state.name];
  phases.clear();
  for (const auto& run : rollout_json.at("analysisRuns")) {
    const std::string name = run.value("name", "");
    const std::optional<int64_t> revision = revision_of_run(state.name, name);
    if (!revision || !kept.count(*revision)) continue;
    for (const auto& m : run.at("metrics")) {
      phases.push_back({*revision, name, m.value("name", ""), m.value("phase", "")});
    }
  }
  // observe() counts only the runs live now (keys are unique per attempt, so a run that stopped
  // never comes back): forget the counts of the others.
  auto live = live_.find(state.name);
  std::erase_if(measured_, [&](const auto& m) {
    if (!revision_of_run(state.name, m.first)) return false;
    if (live == live_.end()) return true;
    for (const auto& [key, request] : live->second.analyses) {
      if (run_name(state.name, key) == m.first) return false;
    }
    return true;
  });
}

void Controller::schedule_publish() {
  if (publish_pending_ || !on_publish_) return;
  publish_pending_ = true;
  std::weak_ptr<bool> alive = alive_;
  deps_.scheduler.post([this, alive] {
    if (alive.expired() || !*alive.lock()) return;
    publish_now();
  });
}

void Controller::publish_now() {
  publish_pending_ = false;
  if (!on_publish_) return;
  auto model = std::make_shared<ReadModel>();
  model->rollouts = rollout_json_;
  for (const auto& [name, object] : rollout_json_)
    published_phase_[name] = object->value("phase", "");
  model->history = history_json_;
  model->measurements = measurements_;
  model->analysis_metric_phases = analysis_metric_phases_;
  model->aborts = aborts_;
  model->reconciles = reconciles_;
  model->reconcile_seconds_sum = reconcile_seconds_sum_;
  for (const auto& [le, n] : reconcile_buckets_) model->reconcile_buckets.emplace_back(le, n);
  if (held_) model->not_durable = held_->error.message();
  on_publish_(std::move(model));
}

}  // namespace sluice::controller
