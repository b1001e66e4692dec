#include "tests/support/fakes/fake_runtime.h"

#include <algorithm>

#include <fmt/format.h>

#include "runtime/scale_down_order.h"

namespace sluice::fakes {

runtime::InstanceStatus* FakeRuntime::find(const std::string& id) {
  for (auto& [rollout, list] : instances_) {
    for (auto& i : list) {
      if (i.id == id) return &i;
    }
  }
  return nullptr;
}

void FakeRuntime::notify(const std::string& rollout) {
  if (listener_) listener_(rollout);
}

void FakeRuntime::make_ready_later(const std::string& id, Duration delay) {
  // Only the latest readiness timer of an instance counts (a crash after a flap restarts it).
  const uint64_t timer = ++ready_timer_[id];
  clock_.call_after(delay, [this, id, timer] {
    auto latest = ready_timer_.find(id);
    if (latest == ready_timer_.end() || latest->second != timer) return;
    runtime::InstanceStatus* inst = find(id);
    if (!inst || inst->crash_loop) return;
    if (never_ready_.count({inst->rollout, inst->revision})) return;
    inst->ready = true;
    inst->started = true;
    inst->ready_since = clock_.now();
    notify(inst->rollout);
  });
}

int FakeRuntime::ready(const std::string& rollout, int64_t revision) const {
  auto it = instances_.find(rollout);
  if (it == instances_.end()) return 0;
  return static_cast<int>(std::count_if(it->second.begin(), it->second.end(), [&](const auto& i) {
    return i.revision == revision && i.ready;
  }));
}

int FakeRuntime::ready_total(const std::string& rollout) const {
  auto it = instances_.find(rollout);
  if (it == instances_.end()) return 0;
  return static_cast<int>(
      std::count_if(it->second.begin(), it->second.end(), [](const auto& i) { return i.ready; }));
}

void FakeRuntime::scale(const runtime::RevisionSpec& spec, int replicas) {
  if (dead("scale:before")) return;
  auto& list = instances_[spec.rollout];
  ScaleCall call{clock_.now(), spec.rollout, spec.revision, replicas, ready_total(spec.rollout), 0};
  int have = static_cast<int>(std::count_if(
      list.begin(), list.end(), [&](const auto& i) { return i.revision == spec.revision; }));
  bool changed = false;
  while (have < replicas) {
    runtime::InstanceStatus inst;
    inst.id = fmt::format("{}-{}-{}", spec.rollout, spec.revision, next_id_++);
    inst.rollout = spec.rollout;
    inst.revision = spec.revision;
    inst.pid = static_cast<int>(next_id_);
    inst.ports["http"] = 20000 + static_cast<int>(next_id_ % 20000);
    inst.started_at = clock_.now();
    if (crash_loop_.count({spec.rollout, spec.revision})) {
      inst.crash_loop = true;
      inst.restarts = 3;
      inst.last_exit = runtime::ExitInfo{3, std::nullopt, "exited with code 3"};
    }
    inst.creation_order = static_cast<int64_t>(next_id_);
    list.push_back(inst);
    make_ready_later(inst.id, ready_delay);
    ++have;
    changed = true;
  }
  if (have > replicas) {
    // The real runtimes' rule (runtime/scale_down_order.h), so capacity holds here only if it
    // holds there.
    std::vector<size_t> of_revision;
    std::vector<runtime::ScaleDownCandidate> candidates;
    for (size_t k = 0; k < list.size(); ++k) {
      if (list[k].revision != spec.revision) continue;
      of_revision.push_back(k);
      candidates.push_back(runtime::scale_down_candidate(list[k]));
    }
    const std::vector<size_t> order = runtime::scale_down_order(candidates);
    std::set<std::string> victims;
    for (size_t k = 0; k < static_cast<size_t>(have - replicas); ++k) {
      victims.insert(list[of_revision[order[k]]].id);
    }
    for (auto it = list.begin(); it != list.end();) {
      if (!victims.count(it->id)) {
        ++it;
        continue;
      }
      if (before_stop_) before_stop_(*it);
      ready_timer_.erase(it->id);
      it = list.erase(it);
    }
    have = replicas;
    changed = true;
  }
  call.ready_after = ready_total(spec.rollout);
  scale_calls_.push_back(call);
  if (on_scale) on_scale(call);
  if (changed) notify(spec.rollout);
  (void)dead("scale:after");
}

void FakeRuntime::set_role(std::string_view rollout, int64_t revision, runtime::InstanceRole role) {
  if (dead("set-role:before")) return;
  roles[{std::string(rollout), revision}] = role;
  (void)dead("set-role:after");
}

void FakeRuntime::run_hook(std::string_view rollout, int64_t revision, runtime::HookKind kind,
                           std::function<void(std::vector<runtime::HookResult>)> done) {
  if (dead("hook:before")) return;
  const std::string name(rollout);
  hook_log.push_back(fmt::format("{} r{}",
                                 kind == runtime::HookKind::kActivate     ? "activate"
                                 : kind == runtime::HookKind::kDeactivate ? "deactivate"
                                                                          : "preStop",
                                 revision));
  std::vector<runtime::HookResult> results;
  for (const auto& i : instances_[name]) {
    if (i.revision != revision) continue;
    runtime::HookResult r;
    r.instance_id = i.id;
    r.kind = kind;
    const bool fails = hook_fails ? hook_fails(i, kind) : hooks_fail;
    r.ok = !fails;
    r.message = fails ? "exit code 1" : "HTTP 200";
    r.took = hook_delay;
    results.push_back(r);
  }
  clock_.call_after(hook_delay, [done = std::move(done), results] { done(results); });
  (void)dead("hook:after");
}

std::vector<runtime::InstanceStatus> FakeRuntime::observe(std::string_view rollout) const {
  auto it = instances_.find(std::string(rollout));
  return it == instances_.end() ? std::vector<runtime::InstanceStatus>{} : it->second;
}

std::vector<std::string> FakeRuntime::rollouts() const {
  std::vector<std::string> out;
  for (const auto& [name, list] : instances_) {
    if (!list.empty()) out.push_back(name);
  }
  return out;
}

void FakeRuntime::set_crash_loop(const std::string& rollout, int64_t revision) {
  crash_loop_.insert({rollout, revision});
  for (auto& i : instances_[rollout]) {
    if (i.revision != revision) continue;
    i.ready = false;
    i.crash_loop = true;
    i.restarts += 3;
    i.last_exit = runtime::ExitInfo{3, std::nullopt, "exited with code 3"};
  }
  notify(rollout);
}

void FakeRuntime::set_never_ready(const std::string& rollout, int64_t revision) {
  never_ready_.insert({rollout, revision});
}

void FakeRuntime::add_probe_resource_errors(const std::string& rollout, size_t index, uint64_t n,
                                            const std::string& last) {
  auto& list = instances_[rollout];
  if (index >= list.size()) return;
  list[index].probe_resource_errors += n;
  list[index].last_probe_resource_error = last;
  notify(rollout);
}

void FakeRuntime::crash_instance(const std::string& rollout, size_t index) {
  auto& list = instances_[rollout];
  if (index >= list.size()) return;
  auto& inst = list[index];
  inst.ready = false;
  inst.restarts += 1;
  inst.last_exit = runtime::ExitInfo{137, 9, "killed by signal 9 (SIGKILL)"};
  make_ready_later(inst.id, ready_delay);
  notify(rollout);
}

}  // namespace sluice::fakes

namespace sluice::fakes {

void FakeRuntime::flap_instance(const std::string& rollout, size_t index, Duration unready_for) {
  auto& list = instances_[rollout];
  if (index >= list.size()) return;
  auto& inst = list[index];
  if (!inst.ready) return;
  inst.ready = false;
  make_ready_later(inst.id, unready_for);
  notify(rollout);
}

}  // namespace sluice::fakes
