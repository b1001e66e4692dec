// FakeRuntime: instances that exist as soon as they are asked for and become ready after a
// configurable delay on the SimulatedClock. Faults: a revision that crash-loops or never becomes
// ready, single instance crashes (recover after the ready delay), readiness that flaps, failing
// hooks, and crash points of the controller inside its actions (crash_points.h).
// Scale-downs pick their victims with the real runtimes' rule (runtime/scale_down_order.h).
// Single-threaded (the clock's).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "runtime/runtime.h"
#include "tests/support/fakes/crash_points.h"

namespace sluice::fakes {

struct ScaleCall {
  TimePoint at{};
  std::string rollout;
  int64_t revision = 0;
  int replicas = 0;
  int ready_before = 0;  // ready instances of the rollout, all revisions
  int ready_after = 0;
};

class FakeRuntime final : public runtime::Runtime {
 public:
  explicit FakeRuntime(SimulatedClock& clock) : clock_(clock) {}

  Duration ready_delay{1000};
  Duration hook_delay{200};
  bool hooks_fail = false;

  void scale(const runtime::RevisionSpec& spec, int replicas) override;
  void set_role(std::string_view rollout, int64_t revision, runtime::InstanceRole role) override;
  void run_hook(std::string_view rollout, int64_t revision, runtime::HookKind kind,
                std::function<void(std::vector<runtime::HookResult>)> done) override;
  std::vector<runtime::InstanceStatus> observe(std::string_view rollout) const override;
  std::vector<std::string> rollouts() const override;
  void set_listener(Listener listener) override { listener_ = std::move(listener); }
  void set_before_stop(BeforeStop before_stop) override { before_stop_ = std::move(before_stop); }
  // No processes, so no output: every instance's log is empty.
  std::vector<runtime::InstanceLog> read_logs(const runtime::LogQuery&) const override {
    return {};
  }
  void drop_logs(std::string_view rollout, std::optional<int64_t> revision) override {
    dropped_logs.emplace_back(std::string(rollout), revision);
  }
  // drop_logs() calls: (rollout, revision or nullopt for the whole Rollout).
  std::vector<std::pair<std::string, std::optional<int64_t>>> dropped_logs;

  // Faults.
  void set_crash_loop(const std::string& rollout, int64_t revision);  // current and future
  void set_never_ready(const std::string& rollout, int64_t revision);
  bool never_ready(const std::string& rollout, int64_t revision) const {
    return never_ready_.count({rollout, revision}) > 0;
  }
  void crash_instance(const std::string& rollout, size_t index);  // index into observe() order
  // As the runtime does when Sluice could not run probes for lack of its own resources: the
  // instance's count grows and the listener is told. Nothing else about the instance changes.
  void add_probe_resource_errors(const std::string& rollout, size_t index, uint64_t n,
                                 const std::string& last);
  // A readiness probe that flaps: a ready instance turns unready (no restart) for `unready_for`.
  void flap_instance(const std::string& rollout, size_t index, Duration unready_for);
  // When set, decides per instance whether a hook fails (otherwise `hooks_fail` does).
  std::function<bool(const runtime::InstanceStatus&, runtime::HookKind)> hook_fails;
  // When set, scale(), set_role() and run_hook() are crash points of the controller (before and
  // after the action); once it is down they have no effect.
  CrashPoints* crash = nullptr;

  int ready(const std::string& rollout, int64_t revision) const;
  int ready_total(const std::string& rollout) const;
  const std::vector<ScaleCall>& scale_calls() const { return scale_calls_; }
  // Called synchronously after every scale() (invariant checks at the moment of the call).
  std::function<void(const ScaleCall&)> on_scale;
  std::vector<std::string> hook_log;  // "deactivate r1", "activate r2"
  std::map<std::pair<std::string, int64_t>, runtime::InstanceRole> roles;

 private:
  void make_ready_later(const std::string& id, Duration delay);
  bool dead(const char* where) { return crash && crash->reached(where); }
  void notify(const std::string& rollout);
  runtime::InstanceStatus* find(const std::string& id);

  SimulatedClock& clock_;
  std::map<std::string, std::vector<runtime::InstanceStatus>> instances_;  // rollout -> instances
  std::set<std::pair<std::string, int64_t>> crash_loop_;
  std::set<std::pair<std::string, int64_t>> never_ready_;
  uint64_t next_id_ = 1;
  std::map<std::string, uint64_t> ready_timer_;  // instance id -> its latest readiness timer
  Listener listener_;
  BeforeStop before_stop_;
  std::vector<ScaleCall> scale_calls_;
};

}  // namespace sluice::fakes
