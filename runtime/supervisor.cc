#include "runtime/supervisor.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <tuple>

#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include "base/process.h"
#include "runtime/log_reader.h"
#include "runtime/log_rotation.h"
#include "runtime/proc.h"
#include "runtime/scale_down_order.h"

namespace sluice::runtime {

namespace asio = boost::asio;

Supervisor::Supervisor(asio::io_context& io, Clock& clock, std::string state_dir,
                       LocalRuntimeOptions options)
    : io_(io),
      strand_(asio::make_strand(io)),
      clock_(clock),
      store_(std::move(state_dir)),
      options_(options),
      log_timer_(strand_) {}

void Supervisor::load_state() {
  if (Status s = store_.init(); !s) {
    add_problem(s.message());
    return;
  }
  StateStore::Loaded loaded = store_.load();
  for (auto& p : loaded.problems) add_problem(std::move(p));
  for (auto& stored : loaded.revisions) {
    Revision& rev = revisions_[{stored.spec.rollout, stored.spec.revision}];
    rev.replicas = stored.replicas;
    rev.spec = std::make_shared<const RevisionSpec>(std::move(stored.spec));
  }
  for (auto& rec : loaded.instances) {
    auto it = revisions_.find({rec.rollout, rec.revision});
    if (it == revisions_.end()) {
      add_problem(fmt::format("instance {}: no revision record; left alone", rec.id));
      continue;
    }
    auto inst = std::make_shared<Instance>(strand_);
    inst->spec = it->second.spec;
    it->second.next_index = std::max(it->second.next_index, rec.index + 1);
    for (const auto& port : inst->spec->pod.ports) {
      if (port.container_port == 0) inst->allocated_ports.insert(port.name);
    }
    for (const auto& [name, port] : rec.ports) ports_.reserve(port);
    inst->rec = std::move(rec);
    if (!is_same_live_process(inst->rec.pid, inst->rec.start_ticks)) inst->rec.pid = 0;
    inst->adopted = inst->rec.pid != 0;
    instances_[inst->rec.id] = inst;
    publish(*inst);
  }
}

void Supervisor::adopt_all() {
  if (shut_down_) return;
  std::vector<InstancePtr> all;
  for (auto& [id, inst] : instances_) all.push_back(inst);
  for (auto& inst : all) {
    if (inst->rec.pid != 0) {
      const int fd = open_pidfd(inst->rec.pid);
      if (fd < 0 || !is_same_live_process(inst->rec.pid, inst->rec.start_ticks)) {
        if (fd >= 0) close(fd);
        inst->rec.pid = 0;
      } else {
        inst->pidfd = std::make_unique<asio::posix::stream_descriptor>(strand_, fd);
      }
    }
    if (inst->rec.pid != 0) {
      inst->phase = Instance::Phase::kRunning;
      inst->adopted = true;
      inst->run_started =
          std::chrono::steady_clock::now() - (clock_.now() - from_unix_ms(inst->rec.started_at_ms));
      inst->target.ports = inst->rec.ports;
      // working dir and env for exec probes/hooks are rebuilt the way spawn builds them.
      std::vector<std::string> argv;
      (void)build_environment(*inst, argv);
      watch_exit(inst);
      if (inst->rec.terminating) {
        stop(inst);
      } else {
        start_probes(inst, /*adopted=*/true);
      }
    } else if (inst->rec.terminating) {
      finish_stop(inst);
      continue;
    } else {
      ExitInfo exit;
      exit.description = "exited while the controller was down (status unknown)";
      exit.at = clock_.now();
      inst->last_exit = exit;
      inst->rec.consecutive_failures += 1;
      schedule_restart(inst);
    }
    publish(*inst);
  }
  std::vector<RevisionKey> keys;
  for (const auto& [key, rev] : revisions_) keys.push_back(key);
  for (const auto& key : keys) reconcile(key);
  schedule_log_rotation();
}

void Supervisor::shutdown() {
  shut_down_ = true;
  log_timer_.cancel();
  for (auto& [id, inst] : instances_) {
    inst->timer.cancel();
    inst->kill_timer.cancel();
    stop_probes(*inst);
    if (inst->pidfd) {
      boost::system::error_code ignored;
      inst->pidfd->close(ignored);
    }
  }
  // Handlers still queued hold the instances; dropping ours breaks the ownership cycles.
  instances_.clear();
  revisions_.clear();
}

void Supervisor::scale(const RevisionSpec& spec, int replicas) {
  if (shut_down_) return;
  const RevisionKey key{spec.rollout, spec.revision};
  Revision& rev = revisions_[key];
  rev.spec = std::make_shared<const RevisionSpec>(spec);
  rev.replicas = std::clamp(replicas, 0, options_.max_replicas);
  if (replicas > options_.max_replicas) {
    add_problem(fmt::format("{} revision {}: {} replicas asked, {} started (the runtime's limit)",
                            spec.rollout, spec.revision, replicas, options_.max_replicas));
  }
  if (Status s = store_.write_revision(spec, rev.replicas); !s) add_problem(s.message());
  if (rev.replicas > 0) {
    dropped_revisions_.erase(key);
    dropped_rollouts_.erase(spec.rollout);
  }
  reconcile(key);
}

void Supervisor::drop_logs(const std::string& rollout, std::optional<int64_t> revision) {
  if (revision) {
    dropped_revisions_.insert({rollout, *revision});
  } else {
    dropped_rollouts_.insert(rollout);
  }
  store_.remove_kept_logs(rollout, revision);
}

std::vector<InstanceLog> Supervisor::read_logs(const LogQuery& query) const {
  struct Source {
    int64_t revision;
    int64_t order;  // creation order within the revision
    std::string id;
    bool running;
  };
  std::vector<Source> sources;
  std::set<std::string> live;
  {
    std::lock_guard lock(mu_);
    if (auto it = snapshot_.find(query.rollout); it != snapshot_.end()) {
      for (const auto& [id, status] : it->second) {
        sources.push_back({status.revision, status.creation_order, id, true});
        live.insert(id);
      }
    }
  }
  // The store's directory listing needs no strand: it only reads the file system.
  for (const auto& kept : store_.kept_logs(query.rollout)) {
    if (live.count(kept.id)) continue;
    const size_t dash = kept.id.rfind('-');
    const int64_t index = dash == std::string::npos ? 0 : std::atoll(kept.id.c_str() + dash + 1);
    sources.push_back({kept.revision, index, kept.id, false});
  }
  std::erase_if(sources, [&](const Source& s) {
    return (query.revision && s.revision != *query.revision) ||
           (!query.instance.empty() && s.id != query.instance);
  });
  std::sort(sources.begin(), sources.end(), [](const Source& a, const Source& b) {
    return std::tie(a.revision, a.order, a.id) < std::tie(b.revision, b.order, b.id);
  });
  std::vector<InstanceLog> out;
  if (sources.empty()) return out;
  const size_t share = std::max<size_t>(1, query.max_bytes / sources.size());
  for (const auto& s : sources) {
    const std::string kept = store_.kept_log_path(query.rollout, s.revision, s.id);
    const auto after = query.after.find(s.id);
    auto read_part = [&](const std::vector<std::string>& files) {
      return after != query.after.end() ? read_log_after(files.back(), after->second, share)
                                        : read_log_tail(files, query.tail_lines, share);
    };
    LogTail tail;
    bool running = false;
    if (s.running) {
      const std::string path = store_.log_path(s.id);
      tail = read_part({path + ".1", path});
      running = tail.found;
    }
    // Gone, or stopped between the snapshot and the read (retire_instance moved the log). A
    // follower gets what the instance wrote after its offset and before it stopped: the kept
    // file ends with the whole live log (kept_live_size), so the offset maps onto it.
    if (!tail.found && after != query.after.end()) {
      const auto live_size = store_.kept_live_size(query.rollout, s.revision, s.id);
      LogTail all = read_log_tail({kept}, 0, kKeptLogBytes);
      tail.found = all.found;
      tail.end_offset = after->second;
      if (all.found && live_size && after->second <= *live_size &&
          *live_size <= all.text.size()) {
        const size_t from = all.text.size() - *live_size + after->second;
        tail.text = all.text.substr(from, share);
        tail.end_offset = after->second + tail.text.size();
      }
    } else if (!tail.found) {
      tail = read_log_tail({kept}, query.tail_lines, share);
    }
    out.push_back(
        {s.id, s.revision, running, std::move(tail.text), tail.truncated, tail.end_offset});
  }
  return out;
}

void Supervisor::reconcile(const RevisionKey& key) {
  auto rev_it = revisions_.find(key);
  if (rev_it == revisions_.end()) return;
  Revision& rev = rev_it->second;
  std::vector<InstancePtr> active;
  for (auto& [id, inst] : instances_) {
    if (inst->rec.rollout == key.first && inst->rec.revision == key.second &&
        inst->phase != Instance::Phase::kStopping) {
      active.push_back(inst);
    }
  }
  std::sort(active.begin(), active.end(), [](const InstancePtr& a, const InstancePtr& b) {
    return a.get()->rec.index < b.get()->rec.index;
  });
  for (auto& inst : active) {
    inst->spec = rev.spec;
    if (inst->rec.role != rev.spec->role) {
      inst->rec.role = rev.spec->role;
      write_role(*inst);
      persist(*inst);
      publish(*inst);
    }
  }
  for (int n = static_cast<int>(active.size()); n < rev.replicas; ++n) {
    spawn(create_instance(rev));
  }
  if (static_cast<int>(active.size()) > rev.replicas) {
    // Which ones go is the shared rule (runtime/scale_down_order.h): Kubernetes' ReplicaSet order.
    std::vector<ScaleDownCandidate> candidates;
    for (const auto& inst : active) {
      ScaleDownCandidate c = scale_down_candidate(status_of(*inst));
      c.running = inst->phase == Instance::Phase::kRunning && inst->rec.pid != 0;
      candidates.push_back(c);
    }
    const std::vector<size_t> order = scale_down_order(candidates);
    const size_t surplus = active.size() - static_cast<size_t>(rev.replicas);
    for (size_t k = 0; k < surplus; ++k) stop(active[order[k]]);
  }
  forget_revision_if_idle(key);
}

Supervisor::InstancePtr Supervisor::create_instance(Revision& rev) {
  auto inst = std::make_shared<Instance>(strand_);
  inst->spec = rev.spec;
  InstanceRecord& rec = inst->rec;
  rec.rollout = rev.spec->rollout;
  rec.revision = rev.spec->revision;
  rec.index = rev.next_index++;
  rec.id = fmt::format("{}-{}-{}", rec.rollout, rec.revision, rec.index);
  rec.role = rev.spec->role;
  for (const auto& port : rev.spec->pod.ports) {
    if (port.container_port != 0) {
      rec.ports[port.name] = port.container_port;
    } else {
      inst->allocated_ports.insert(port.name);
      rec.ports[port.name] = 0;  // allocated by spawn()
    }
  }
  write_role(*inst);
  instances_[rec.id] = inst;
  return inst;
}

void Supervisor::forget_revision_if_idle(const RevisionKey& key) {
  auto it = revisions_.find(key);
  if (it == revisions_.end() || it->second.replicas > 0) return;
  for (const auto& [id, inst] : instances_) {
    if (inst->rec.rollout == key.first && inst->rec.revision == key.second) return;
  }
  revisions_.erase(it);
  store_.remove_revision(key.first, key.second);
}

void Supervisor::set_role(const std::string& rollout, int64_t revision, InstanceRole role) {
  if (shut_down_) return;
  auto it = revisions_.find({rollout, revision});
  if (it == revisions_.end()) return;
  if (it->second.spec->role != role) {
    auto spec = std::make_shared<RevisionSpec>(*it->second.spec);
    spec->role = role;
    it->second.spec = spec;
    if (Status s = store_.write_revision(*spec, it->second.replicas); !s) add_problem(s.message());
  }
  reconcile({rollout, revision});
}

void Supervisor::run_hook(const std::string& rollout, int64_t revision, HookKind kind,
                          std::function<void(std::vector<HookResult>)> done) {
  std::vector<InstancePtr> targets;
  std::optional<manifests::LifecycleHandler> handler;
  if (auto it = revisions_.find({rollout, revision}); it != revisions_.end() && !shut_down_) {
    const auto& lifecycle = it->second.spec->pod.lifecycle;
    handler = kind == HookKind::kActivate     ? lifecycle.activate
              : kind == HookKind::kDeactivate ? lifecycle.deactivate
                                              : lifecycle.pre_stop;
    for (auto& [id, inst] : instances_) {
      if (inst->rec.rollout == rollout && inst->rec.revision == revision &&
          inst->phase == Instance::Phase::kRunning && inst->rec.pid != 0) {
        targets.push_back(inst);
      }
    }
  }
  if (!handler || !handler->defined() || targets.empty()) {
    asio::post(strand_, [done = std::move(done)] { done({}); });
    return;
  }
  struct Gather {
    std::vector<HookResult> results;
    size_t pending = 0;
    std::function<void(std::vector<HookResult>)> done;
  };
  auto gather = std::make_shared<Gather>();
  gather->results.resize(targets.size());
  gather->pending = targets.size();
  gather->done = std::move(done);
  for (size_t i = 0; i < targets.size(); ++i) {
    run_handler(targets[i], *handler, kind, handler->timeout, [gather, i](HookResult result) {
      gather->results[i] = std::move(result);
      if (--gather->pending == 0) gather->done(std::move(gather->results));
    });
  }
}

InstanceStatus Supervisor::status_of(const Instance& inst) const {
  InstanceStatus s;
  s.id = inst.rec.id;
  s.rollout = inst.rec.rollout;
  s.revision = inst.rec.revision;
  s.pid = inst.rec.pid;
  s.ports = inst.rec.ports;
  s.started = inst.started;
  s.ready = inst.ready;
  s.live = inst.live;
  s.terminating = inst.phase == Instance::Phase::kStopping;
  s.restarts = inst.rec.restarts;
  s.crash_loop = inst.crash_loop;
  s.last_exit = inst.last_exit;
  s.last_error = inst.last_error;
  s.started_at = from_unix_ms(inst.rec.started_at_ms);
  s.ready_since = inst.ready_since;
  s.creation_order = inst.rec.index;
  s.probe_resource_errors = inst.probe_resource_errors;
  s.last_probe_resource_error = inst.last_probe_resource_error;
  return s;
}

void Supervisor::publish(const Instance& inst) {
  Runtime::Listener listener;
  {
    std::lock_guard lock(mu_);
    snapshot_[inst.rec.rollout][inst.rec.id] = status_of(inst);
    listener = listener_;
  }
  if (listener) listener(inst.rec.rollout);
}

void Supervisor::unpublish(const Instance& inst) {
  Runtime::Listener listener;
  {
    std::lock_guard lock(mu_);
    auto it = snapshot_.find(inst.rec.rollout);
    if (it != snapshot_.end()) {
      it->second.erase(inst.rec.id);
      if (it->second.empty()) snapshot_.erase(it);
    }
    listener = listener_;
  }
  if (listener) listener(inst.rec.rollout);
}

void Supervisor::persist(Instance& inst) {
  inst.rec.ready = inst.ready;
  inst.rec.ready_since_ms = inst.ready ? to_unix_ms(inst.ready_since) : 0;
  if (Status s = store_.write_instance(inst.rec); !s) add_problem(s.message());
}

void Supervisor::write_role(Instance& inst) {
  if (Status s = store_.write_role(inst.rec.id, inst.rec.role); !s) add_problem(s.message());
}

void Supervisor::add_problem(std::string problem) {
  std::lock_guard lock(mu_);
  problems_.push_back(std::move(problem));
  if (problems_.size() > 100) problems_.erase(problems_.begin());
}

void Supervisor::schedule_log_rotation() {
  log_timer_.expires_after(options_.log_check_interval);
  log_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->shut_down_) return;
    for (const auto& [id, inst] : self->instances_) {
      auto rotated = rotate_log_if_needed(self->store_.log_path(id), self->options_.log_max_bytes);
      if (!rotated) self->add_problem(rotated.status().message());
    }
    self->schedule_log_rotation();
  });
}

std::vector<InstanceStatus> Supervisor::observe(const std::string& rollout) const {
  std::lock_guard lock(mu_);
  std::vector<InstanceStatus> out;
  if (auto it = snapshot_.find(rollout); it != snapshot_.end()) {
    for (const auto& [id, status] : it->second) out.push_back(status);
  }
  return out;
}

std::vector<std::string> Supervisor::rollouts() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, instances] : snapshot_) out.push_back(name);
  return out;
}

std::vector<std::string> Supervisor::problems() const {
  std::lock_guard lock(mu_);
  return problems_;
}

std::map<std::pair<std::string, std::string>, uint64_t> Supervisor::probe_errors() const {
  std::lock_guard lock(mu_);
  return probe_errors_;
}

void Supervisor::set_listener(Runtime::Listener listener) {
  std::lock_guard lock(mu_);
  listener_ = std::move(listener);
}

void Supervisor::set_before_stop(Runtime::BeforeStop before_stop) {
  std::lock_guard lock(mu_);
  before_stop_ = std::move(before_stop);
}

}  // namespace sluice::runtime
