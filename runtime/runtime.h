// Where service instances run. The default is LocalProcessRuntime (local processes); a
// Kubernetes runtime can implement the same interface later.
//
// Threading: every method is called on the controller strand and must not block (no fork/exec
// waits, no probe I/O inline). Implementations do their I/O on their own executor and publish
// observations that observe() returns as a snapshot. Listener callbacks may arrive on any thread;
// the controller posts them to its strand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "manifests/types.h"

namespace sluice::runtime {

enum class InstanceRole { kStable, kCanary, kPreview };
const char* role_name(InstanceRole role);  // "stable" | "canary" | "preview"

// Everything needed to start instances of one revision of one Rollout.
struct RevisionSpec {
  std::string rollout;
  int64_t revision = 0;
  std::string commit;          // the Git commit that introduced this revision
  std::string checkout_dir;    // root of the revision's worktree; workingDir is relative to it
  manifests::PodTemplate pod;  // template_ of the Rollout at that revision
  InstanceRole role = InstanceRole::kCanary;
};

struct ExitInfo {
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string description;  // "exited with code 3", "killed by signal 9 (SIGKILL)"
  TimePoint at{};           // when the exit was seen (epoch when unknown)
};

struct InstanceStatus {
  std::string id;  // unique per instance, e.g. "orders-api-7-2"
  std::string rollout;
  int64_t revision = 0;
  int pid = 0;                       // 0 when not running
  std::map<std::string, int> ports;  // port name -> allocated loopback port
  bool started = false;              // startup probe passed (or none)
  bool ready = false;                // readiness probe passing (and started)
  bool live = true;
  bool terminating = false;
  int restarts = 0;
  bool crash_loop = false;  // in CrashLoopBackOff
  std::optional<ExitInfo> last_exit;
  std::string last_error;  // spawn error with errno text, last probe failure, ...
  TimePoint started_at{};
  TimePoint ready_since{};  // valid when ready
  // Creation order within the revision: a newer instance has a higher value (process restarts
  // keep it). Scale-downs break ties with it (runtime/scale_down_order.h).
  int64_t creation_order = 0;
  // Probe attempts Sluice could not make for lack of its own resources (EMFILE and the like):
  // Sluice's failure, never counted against the instance. The controller records a Warning
  // event when the count grows (ProbeResourceError).
  uint64_t probe_resource_errors = 0;
  std::string last_probe_resource_error;  // "<probe> probe: <errno name>: <message>"
};

enum class HookKind { kActivate, kDeactivate, kPreStop };
const char* hook_name(HookKind kind);

struct HookResult {
  std::string instance_id;
  HookKind kind = HookKind::kActivate;
  bool ok = false;
  std::string message;  // HTTP status or exit code, and the output tail
  Duration took{0};
};

// Which instance logs to read (Runtime::read_logs).
struct LogQuery {
  std::string rollout;
  std::optional<int64_t> revision;  // absent: every revision that has logs
  std::string instance;             // "" = every instance
  size_t tail_lines = 0;            // 0 = as many as max_bytes allows
  // The most bytes of log text returned in all (shared among the instances), so one request
  // cannot make the server read a whole disk.
  size_t max_bytes = 1 << 20;
  // Follow mode: instance id -> the end_offset a previous read returned. Those instances return
  // only what was written after it (all of the current file when it is now shorter: it was
  // rotated); tail_lines does not apply to them.
  std::map<std::string, uint64_t> after;
};

struct InstanceLog {
  std::string instance;  // the instance id
  int64_t revision = 0;
  bool running = false;  // false: the instance is gone; the log was kept for its revision
  std::string text;      // the last lines, at most the query's share of max_bytes
  bool truncated = false;  // older output exists that is not in text
  uint64_t end_offset = 0;  // where text ends in the instance's current log file (for `after`)
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Declares that `replicas` instances of this revision should exist. Idempotent. Starting
  // happens asynchronously; surplus instances are stopped gracefully (preStop, SIGTERM,
  // SIGKILL after the grace period) in the order of runtime/scale_down_order.h: instances
  // without a running process or crash-looping first, then unready before ready, ready for less
  // time before longer, more restarts before fewer, newer before older. The controller's
  // capacity budget relies on this (a scale-down never removes a ready instance while an unready
  // one of the revision remains). LocalProcessRuntime applies that rule. A Kubernetes runtime
  // will not apply it itself: it sets the ReplicaSet's replicas and relies on the ReplicaSet
  // controller's own ranking (pkg/controller ActivePods), which this rule mirrors. Kubernetes
  // agrees on the part the controller relies on (pending and unready pods go first); among ready
  // pods its tie-breaks differ in detail (pod-deletion-cost, logarithmic age buckets).
  virtual void scale(const RevisionSpec& spec, int replicas) = 0;

  // Updates the role of every instance of a revision (the SLUICE_ROLE_FILE content).
  virtual void set_role(std::string_view rollout, int64_t revision, InstanceRole role) = 0;

  // Runs a lifecycle hook on every running instance of the revision; `done` is called once with
  // one HookResult per instance (an empty vector when there is no instance or no such hook).
  virtual void run_hook(std::string_view rollout, int64_t revision, HookKind kind,
                        std::function<void(std::vector<HookResult>)> done) = 0;

  // The current observation of every instance of a Rollout (all revisions).
  virtual std::vector<InstanceStatus> observe(std::string_view rollout) const = 0;

  // Names of every Rollout with instances (used on start-up to find orphans).
  virtual std::vector<std::string> rollouts() const = 0;

  // Called (any thread) whenever an instance of `rollout` changes observably.
  using Listener = std::function<void(const std::string& rollout)>;
  virtual void set_listener(Listener listener) = 0;

  // Called before an instance is stopped, so the router can drain it: after this returns, no new
  // request may be sent to the endpoint. In-flight requests finish.
  using BeforeStop = std::function<void(const InstanceStatus&)>;
  virtual void set_before_stop(BeforeStop before_stop) = 0;

  // Instance output (stdout and stderr), oldest instance first: of running instances, and of
  // instances that are gone but whose revision is still in the Rollout's history (an aborted
  // canary's output stays readable until drop_logs()). Any thread (the API's): reads files
  // only, never blocks on the runtime's strand. A Kubernetes runtime maps it to the pod log API.
  virtual std::vector<InstanceLog> read_logs(const LogQuery& query) const = 0;

  // The kept logs of a revision that left history (revision set), or of every revision of a
  // Rollout that was deleted (revision absent), are removed; so are those of its instances that
  // are still stopping, once they have stopped. A later scale() of that revision keeps logs
  // again. Called on the controller strand; does not block.
  virtual void drop_logs(std::string_view rollout, std::optional<int64_t> revision) = 0;
};

}  // namespace sluice::runtime
