// Controller: desired state in, verbs, revisions, records. The reconcile pass is in reconcile.cc.
#include "controller/controller.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "controller/undo_sync.h"
#include "strategies/verbs.h"

namespace sluice::controller {

using nlohmann::json;
using strategies::Phase;

namespace {
constexpr uint64_t kEventIdBlock = 1000;  // event ids reserved per durable write
}  // namespace

const char* verb_name(Verb verb) {
  switch (verb) {
    case Verb::kPromote:
      return "promote";
    case Verb::kAbort:
      return "abort";
    case Verb::kRetry:
      return "retry";
    case Verb::kPause:
      return "pause";
    case Verb::kResume:
      return "resume";
    case Verb::kUndo:
      return "undo";
  }
  return "unknown";
}

Controller::Controller(ControllerDeps deps)
    : deps_(deps), queue_(deps.clock, deps.scheduler, [this](const std::string& key) {
        return reconcile(key);
      }) {
  queue_.set_on_terminal([this](const std::string& key, const Status& status) {
    auto it = states_.find(key);
    if (it == states_.end()) return;
    strategies::Transition t;
    t.reason = "ReconcileFailed";
    t.message = status.to_string();
    t.revision = it->second.status.update_revision;
    record(it->second, t, "controller", it->second.status.phase, json::object());
    (void)make_durable();  // no action follows
  });
}

Controller::~Controller() {
  *alive_ = false;
  if (held_ && held_->timer) deps_.scheduler.cancel(held_->timer);
}

bool Controller::make_durable() {
  if (held_) return false;  // only retry_durability() tries again, paced by its back-off
  Status st = deps_.sink.flush_before_action();
  if (st.is_ok()) return true;
  hold(st);
  return false;
}

void Controller::hold(const Status& error) {
  if (held_) return;
  held_ = Held{error, deps_.clock.now(), 0, 0};
  spdlog::error("the controller holds (no scale, route, hook or analysis action; verbs answer "
                "503) and retries with back-off: {}",
                error.message());
  std::weak_ptr<bool> alive = alive_;
  held_->timer =
      deps_.scheduler.call_at(deps_.clock.now() + kDurabilityRetryInitial, [this, alive] {
        if (alive.expired() || !*alive.lock()) return;
        retry_durability();
      });
  for (const auto& [name, state] : states_) refresh_read_model(state);
  schedule_publish();
}

void Controller::retry_durability() {
  if (!held_) return;
  held_->timer = 0;
  Status st = deps_.sink.flush_before_action();
  if (st.is_ok() && next_event_id_ >= reserved_event_ids_) {
    // A reservation that failed while holding: ids handed out since then must be covered
    // before anything acts on them.
    const uint64_t ceiling = next_event_id_ + kEventIdBlock;
    st = deps_.sink.reserve_event_ids(ceiling);
    if (st.is_ok()) reserved_event_ids_ = ceiling;
  }
  if (!st.is_ok()) {
    held_->error = st;
    held_->retries += 1;
    Duration delay = kDurabilityRetryInitial;
    for (int i = 0; i < held_->retries && delay < kDurabilityRetryMax; ++i) delay *= 2;
    delay = std::min(delay, kDurabilityRetryMax);
    std::weak_ptr<bool> alive = alive_;
    held_->timer = deps_.scheduler.call_at(deps_.clock.now() + delay, [this, alive] {
      if (alive.expired() || !*alive.lock()) return;
      retry_durability();
    });
    for (const auto& [name, state] : states_) refresh_read_model(state);
    schedule_publish();
    return;
  }
  spdlog::info("state is durable again after {} failed retr{} ({} s held); the controller resumes",
               held_->retries, held_->retries == 1 ? "y" : "ies",
               std::chrono::duration_cast<std::chrono::seconds>(deps_.clock.now() - held_->since)
                   .count());
  held_.reset();
  std::vector<std::function<void()>> actions = std::move(held_actions_);
  held_actions_.clear();
  for (auto& action : actions) action();
  for (const auto& [name, state] : states_) {
    refresh_read_model(state);
    enqueue(name);
  }
  schedule_publish();
}

void Controller::enqueue(const std::string& rollout) { queue_.add(rollout); }

manifests::RolloutSpec Controller::effective_spec(const RolloutState& state) const {
  // A strategy change applies to the next revision: the update runs with its own strategy.
  manifests::RolloutSpec spec = state.spec;
  if (const RevisionRecord* rev = state.revision(state.status.update_revision)) {
    spec.strategy = rev->spec.strategy;
  }
  return spec;
}

uint64_t Controller::take_event_id() {
  // A block per durable write: one fsync per kEventIdBlock events. After a restart the ids go on
  // from the ceiling, so a restart may skip up to one block; they never repeat.
  if (next_event_id_ >= reserved_event_ids_) {
    const uint64_t ceiling = next_event_id_ + kEventIdBlock;
    // A failed reservation holds the controller like a failed flush: the id is still handed
    // out (its record is not durable either), and the retry reserves above it before resuming.
    if (Status st = deps_.sink.reserve_event_ids(ceiling); st.is_ok()) {
      reserved_event_ids_ = ceiling;
    } else {
      hold(st);
    }
  }
  return next_event_id_++;
}

void Controller::record(RolloutState& state, const strategies::Transition& t,
                        const std::string& actor, Phase from, const json& evidence) {
  // A write-back's success is news, not trouble, even while the rollout is still aborted.
  const bool warning =
      t.reason != "GitWriteBack" &&
      (state.status.aborted || t.reason == "HookFailed" || t.reason == "Orphaned" ||
       t.reason == "ProgressDeadlineExceeded" || t.reason == "ReconcileFailed" ||
       t.reason == "RouterError" || t.reason == "ProbeResourceError" ||
       t.reason == "ConsumersExceedPartitions" || t.reason == "GitWriteBackFailed");
  const int64_t revision = t.revision ? t.revision : state.status.update_revision;
  // The version and commit of that revision travel with the event, so a log line or a watcher
  // needs no second look-up.
  const RevisionRecord* about = state.revision(revision);
  json event = {{"id", take_event_id()},
                {"time", format_rfc3339(deps_.clock.now())},
                {"rollout", state.name},
                {"revision", revision},
                {"version", about ? about->spec.template_.version : ""},
                {"commit", about ? about->commit : ""},
                {"type", warning ? "Warning" : "Normal"},
                {"from", strategies::phase_name(from)},
                {"to", strategies::phase_name(state.status.phase)},
                {"reason", t.reason},
                {"message", t.message},
                {"actor", actor},
                {"evidence", evidence}};
  deps_.sink.append({{"v", 1}, {"event", event}, {"state", rollout_state_to_json(state)}});
  events_.push_back(event);
  if (events_.size() > event_limit_) events_.erase(events_.begin());
  if (on_event_) on_event_(event);
  send_event_webhooks(state, event);
}

void Controller::record_state(RolloutState& state) {
  deps_.sink.append({{"v", 1}, {"event", nullptr}, {"state", rollout_state_to_json(state)}});
}

bool Controller::within_rollback_window(const RolloutState& state,
                                        const manifests::PodTemplate& t) const {
  int window = state.spec.rollback_window_revisions;
  for (auto it = state.revisions.rbegin(); it != state.revisions.rend() && window > 0; ++it) {
    if (it->number == state.status.stable_revision || it->number == state.status.update_revision) {
      continue;
    }
    --window;
    if (it->result == "Completed" && it->spec.template_ == t) return true;
  }
  return false;
}

void Controller::trim_history(RolloutState& state) {
  const size_t limit = static_cast<size_t>(std::max(state.spec.revision_history_limit, 1)) + 2;
  while (state.revisions.size() > limit) {
    auto victim = std::find_if(state.revisions.begin(), state.revisions.end(), [&](const auto& r) {
      return r.number != state.status.stable_revision && r.number != state.status.update_revision &&
             !state.status.replicas.count(r.number);
    });
    if (victim == state.revisions.end()) break;
    // Its instances' kept logs leave with it (the disk bound of "sluice logs --revision").
    deps_.runtime.drop_logs(state.name, victim->number);
    state.revisions.erase(victim);
  }
}

void Controller::new_revision(RolloutState& state, const manifests::RolloutSpec& spec,
                              const std::string& commit, const std::string& author,
                              const std::string& why, bool fast_track) {
  const Phase from = state.status.phase;
  if (state.status.in_progress()) {
    for (auto& r : state.revisions) {
      if (r.number == state.status.update_revision && r.result.empty()) {
        r.result = "Superseded";
        r.reason = why;
      }
    }
  }
  RevisionRecord rec;
  rec.number = state.next_revision++;
  rec.spec = spec;
  rec.commit = commit;
  rec.author = author;
  rec.created = deps_.clock.now();
  state.revisions.push_back(rec);
  strategies::begin_update(state.status, rec.number, fast_track, deps_.clock.now());
  trim_history(state);
  strategies::Transition t;
  t.reason = "RevisionCreated";
  t.revision = rec.number;
  t.message = fmt::format("revision {} (version {}) from commit {}: {}{}", rec.number,
                          spec.template_.version, commit.substr(0, 12), why,
                          fast_track ? "; within rollbackWindow, steps and analysis skipped" : "");
  record(state, t, author.empty() ? "git" : author, from,
         {{"commit", commit}, {"version", spec.template_.version}, {"fastTrack", fast_track}});
}

void Controller::apply_desired(const DesiredState& desired) {
  // A commit with manifest errors changes nothing (the source reports the errors).
  if (!desired.manifests.ok()) return;
  templates_.clear();
  templates_known_ = true;
  for (const auto& t : desired.manifests.templates) templates_[t.templ.metadata.name] = t.templ;
  std::set<std::string> seen;
  for (const auto& loaded : desired.manifests.rollouts) {
    const std::string& name = loaded.rollout.metadata.name;
    const manifests::RolloutSpec& spec = loaded.rollout.spec;
    seen.insert(name);
    RolloutState& state = states_[name];
    state.name = name;
    const bool template_changed = !state.git_template || *state.git_template != spec.template_;
    const bool spec_changed = !(state.spec == spec);
    state.spec = spec;
    if (template_changed) {
      state.git_template = spec.template_;
      state.commit = desired.commit;
      state.undo_note.clear();  // Git has spoken again: what it says now is the reference
      const RevisionRecord* stable = state.revision(state.status.stable_revision);
      if (stable && stable->spec.template_ == spec.template_) {
        if (state.status.in_progress()) {
          // Back to the stable template: the update in progress is cancelled.
          const Phase from = state.status.phase;
          for (auto& r : state.revisions) {
            if (r.number == state.status.update_revision && r.result.empty()) {
              r.result = "Superseded";
              r.reason = fmt::format("commit {} went back to revision {}",
                                     desired.commit.substr(0, 12), stable->number);
            }
          }
          const bool was_aborted = state.status.aborted;
          const int64_t cancelled = state.status.update_revision;
          strategies::begin_update(state.status, stable->number, false, deps_.clock.now());
          strategies::Transition t;
          t.reason = "UpdateCancelled";
          t.revision = stable->number;
          t.message = fmt::format("commit {} returns to stable revision {}",
                                  desired.commit.substr(0, 12), stable->number);
          if (was_aborted) {
            // Git caught up with what runs (a write-back's revert, or a person's): the aborted
            // update already gave all traffic back to stable, so nothing rolls out or scales
            // (a pending abortScaleDownDelay keeps its time); the next pass confirms readiness.
            state.status.phase = Phase::kHealthy;
            state.status.message = fmt::format("revision {} is stable", stable->number);
            t.message = fmt::format(
                "commit {} returns Git to stable revision {} (revision {} was aborted); nothing "
                "rolls out",
                desired.commit.substr(0, 12), stable->number, cancelled);
          }
          record(state, t, desired.author.empty() ? "git" : desired.author, from, json::object());
        }
      } else {
        new_revision(state, spec, desired.commit, desired.author,
                     desired.message.empty() ? "template changed" : desired.message,
                     within_rollback_window(state, spec.template_));
      }
    } else if (spec_changed) {
      record_state(state);
    }
    refresh_read_model(state);
    enqueue(name);
  }
  std::vector<std::string> gone;
  for (auto& [name, state] : states_) {
    if (seen.count(name)) {
      if (orphaned_.erase(name)) {
        refresh_read_model(state);
        schedule_publish();
      }
      continue;
    }
    if (state.spec.prune) {
      gone.push_back(name);
    } else if (orphaned_.insert(name).second) {
      strategies::Transition t;
      t.reason = "Orphaned";
      t.message = fmt::format(
          "{} is no longer in Git (commit {}); it keeps running because its spec has prune: false",
          name, desired.commit.substr(0, 12));
      record(state, t, desired.author.empty() ? "git" : desired.author, state.status.phase,
             json::object());
      refresh_read_model(state);
      schedule_publish();
    }
  }
  for (const auto& name : gone) delete_rollout(name);
  (void)make_durable();  // the reconciles queued above act only once it is
  schedule_publish();
}

// The runtime keeps its own records (runtime/state_store.h) and resumes supervision from them on
// start, before the controller says anything: that is what lets instances survive a controller
// restart. The other side of it: instances of a Rollout the controller's state does not know
// would run for ever, adopted and restarted by every start, since nothing ever scales a Rollout
// the controller has no state for. So recovery stops them, and says so.
void Controller::stop_unknown_instances() {
  for (const std::string& name : deps_.runtime.rollouts()) {
    if (states_.count(name)) continue;
    std::set<int64_t> revisions;
    json ids = json::array();
    for (const auto& inst : deps_.runtime.observe(name)) {
      revisions.insert(inst.revision);
      ids.push_back(inst.id);
    }
    if (ids.empty()) continue;
    const std::string message = fmt::format(
        "{} has {} instance(s) (revision(s) {}) that the controller's state does not know (a "
        "journal repair or a lost record); they are stopped",
        name, ids.size(), fmt::join(revisions, ", "));
    json event = {{"id", take_event_id()},
                  {"time", format_rfc3339(deps_.clock.now())},
                  {"rollout", name},
                  {"revision", revisions.empty() ? 0 : *revisions.rbegin()},
                  {"type", "Warning"},
                  {"from", "Unknown"},
                  {"to", "Deleted"},
                  {"reason", "UnknownInstancesStopped"},
                  {"message", message},
                  {"actor", "sluice"},
                  {"evidence", {{"instances", ids}}}};
    deps_.sink.append({{"v", 1}, {"event", event}, {"deleted", name}});
    const bool durable = make_durable();
    events_.push_back(event);
    if (events_.size() > event_limit_) events_.erase(events_.begin());
    if (on_event_) on_event_(event);
    spdlog::warn("{}", message);
    auto stop = [this, name, revisions] {
      for (int64_t revision : revisions) {
        runtime::RevisionSpec spec;
        spec.rollout = name;
        spec.revision = revision;
        deps_.runtime.scale(spec, 0);
      }
    };
    if (durable) {
      stop();
    } else {
      held_actions_.push_back(std::move(stop));
    }
  }
}

void Controller::delete_rollout(const std::string& name) {
  json event = {{"id", take_event_id()},
                {"time", format_rfc3339(deps_.clock.now())},
                {"rollout", name},
                {"revision", 0},
                {"type", "Normal"},
                {"from", strategies::phase_name(states_[name].status.phase)},
                {"to", "Deleted"},
                {"reason", "RolloutDeleted"},
                {"message", fmt::format("{} was removed from Git (prune)", name)},
                {"actor", "git"},
                {"evidence", json::object()}};
  deps_.sink.append({{"v", 1}, {"event", event}, {"deleted", name}});
  const bool durable = make_durable();
  events_.push_back(event);
  if (on_event_) on_event_(event);
  std::vector<runtime::RevisionSpec> scale_down;
  for (const auto& inst : deps_.runtime.observe(name)) {
    runtime::RevisionSpec spec;
    spec.rollout = name;
    spec.revision = inst.revision;
    if (const RevisionRecord* r = states_[name].revision(inst.revision))
      spec.pod = r->spec.template_;
    scale_down.push_back(std::move(spec));
  }
  std::vector<std::string> runs;
  for (const auto& [key, req] : live_[name].analyses) runs.push_back(run_name(name, key));
  auto remove = [this, name, scale_down = std::move(scale_down), runs = std::move(runs)] {
    for (const auto& spec : scale_down) deps_.runtime.scale(spec, 0);
    deps_.runtime.drop_logs(name, std::nullopt);
    for (const auto& run : runs) deps_.analysis.terminate(run);
    deps_.router.remove(name);
  };
  if (durable) {
    remove();
  } else {
    held_actions_.push_back(std::move(remove));
  }
  live_.erase(name);
  states_.erase(name);
  rollout_json_.erase(name);
  published_phase_.erase(name);
  history_json_.erase(name);
  analysis_metric_phases_.erase(name);
  std::erase_if(measurements_, [&](const auto& m) { return std::get<0>(m.first) == name; });
  std::erase_if(aborts_, [&](const auto& a) { return a.first.first == name; });
  queue_.forget(name);
}

Result<json> Controller::command(const VerbRequest& request) {
  auto it = states_.find(request.rollout);
  if (it == states_.end()) return not_found(fmt::format("rollout {} not found", request.rollout));
  if (held_) {
    return unavailable(fmt::format("{} was not recorded: state is not durable, so the controller "
                                   "holds and accepts no verb until it is ({})",
                                   verb_name(request.verb), held_->error.message()));
  }
  RolloutState& state = it->second;
  const std::string actor = request.actor.empty() ? "anonymous" : request.actor;
  if (request.verb == Verb::kUndo) {
    const RevisionRecord* target = nullptr;
    if (request.revision) {
      target = state.revision(*request.revision);
      if (!target) {
        return invalid_argument(
            fmt::format("revision {} is not in the history of {} (revisionHistoryLimit {})",
                        *request.revision, state.name, state.spec.revision_history_limit));
      }
    } else {
      target = undo_target(state);
      if (!target) {
        return failed_precondition(fmt::format(
            "nothing to undo: no revision of {} before revision {} served as stable", state.name,
            state.status.update_revision));
      }
    }
    if (target->number == state.status.stable_revision && !state.status.in_progress()) {
      return failed_precondition(fmt::format("revision {} is already stable", target->number));
    }
    manifests::RolloutSpec spec = state.spec;
    spec.template_ = target->spec.template_;
    const int64_t target_number = target->number;
    const std::string target_commit = target->commit;
    state.undo_note = fmt::format("undo to revision {} ({}) by {}", target_number,
                                  target->spec.template_.version, actor);
    if (target_number == state.status.stable_revision) {
      // Back to stable: the update ends (an aborted one is cleared) and no revision is created.
      const Phase from = state.status.phase;
      const int64_t cancelled = state.status.update_revision;
      for (auto& r : state.revisions) {
        if (r.number == cancelled && r.result.empty()) {
          r.result = state.status.aborted ? "Aborted" : "Superseded";
          r.reason = state.status.aborted ? state.status.message : state.undo_note;
        }
      }
      strategies::begin_update(state.status, target_number, false, deps_.clock.now());
      strategies::Transition t;
      t.reason = "UpdateCancelled";
      t.revision = target_number;
      t.message = fmt::format("{} ended revision {}: back to stable revision {}", actor,
                              cancelled, target_number);
      record(state, t, actor, from, json::object());
    } else {
      new_revision(state, spec, target_commit, actor,
                   fmt::format("undo to revision {} by {}", target_number, actor),
                   within_rollback_window(state, spec.template_));
    }
  } else {
    strategies::OperatorVerb verb = strategies::OperatorVerb::kPromote;
    switch (request.verb) {
      case Verb::kPromote:
        verb = strategies::OperatorVerb::kPromote;
        break;
      case Verb::kAbort:
        verb = strategies::OperatorVerb::kAbort;
        break;
      case Verb::kRetry:
        verb = strategies::OperatorVerb::kRetry;
        break;
      case Verb::kPause:
        verb = strategies::OperatorVerb::kPause;
        break;
      case Verb::kResume:
        verb = strategies::OperatorVerb::kResume;
        break;
      case Verb::kUndo:
        break;
    }
    auto out = strategies::apply_verb(effective_spec(state), state.status, verb, request.full,
                                      actor, deps_.clock.now());
    if (!out) return out.status();
    const Phase from = state.status.phase;
    const bool was_aborted = state.status.aborted;
    state.status = out->status;
    if (request.verb == Verb::kAbort && state.status.aborted) {
      // As for an abort the reconcile decides: history names the aborted revision and why.
      for (auto& r : state.revisions) {
        if (r.number == state.status.update_revision && r.result.empty()) {
          r.result = "Aborted";
          r.reason = out->transition.message;
        }
      }
    }
    if (!was_aborted && state.status.aborted) count_abort(state.name, out->transition.reason);
    record(state, out->transition, actor, from, json::object());
  }
  const bool durable = make_durable();
  refresh_read_model(state);
  schedule_publish();
  if (!durable) {
    // The change is in memory and its record is kept by the sink, but nothing acts on it and
    // nothing is promised: it takes effect only if the journal recovers before sluice stops.
    return unavailable(fmt::format(
        "{} was not acknowledged: its record could not be made durable, so the controller holds "
        "and nothing acts on it; it takes effect only if the journal recovers before sluice "
        "stops ({})",
        verb_name(request.verb), held_->error.message()));
  }
  enqueue(state.name);
  return build_rollout_json(state);
}

}  // namespace sluice::controller
