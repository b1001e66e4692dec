// LocalProcessRuntime: the default Runtime. Instances are local processes supervised like a
// kubelet supervises containers: spawned without a shell, probed (startup, readiness, liveness),
// restarted with CrashLoopBackOff, stopped with preStop + SIGTERM + SIGKILL, and detached so
// that they outlive the controller and are re-adopted by the next runtime on the same state dir.
//
// Process model (docs/ARCHITECTURE.md, section runtime):
// - each instance runs in its own session and process group (POSIX_SPAWN_SETSID), its stdout and
//   stderr are a log file under the state dir (copy-truncate rotation, log_rotation.h);
// - exits are observed through pidfds (pidfd_open, Linux >= 5.3) registered with Asio: no
//   SIGCHLD handler and no polling. Our own children are reaped with waitpid; adopted processes
//   are not our children (their exit status is unknown), and a pid is only trusted when the
//   process start time in /proc/<pid>/stat matches the recorded one;
// - per instance the state dir keeps pid, start time, ports, revision, role (state_store.h).
//
// Threading: public methods are called on one controller thread and never block; they post to
// a strand of the given io_context, where all state lives. observe() and rollouts() read a
// snapshot published under a mutex. Listener and BeforeStop callbacks run on that strand.
// Construction reads the state dir synchronously (so rollouts() lists adopted instances at once).
// Destroy the runtime when no thread is running the io_context; destruction leaves instances
// running (they are detached by design); use scale(spec, 0) to stop them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "runtime/backoff.h"
#include "runtime/runtime.h"

namespace sluice::runtime {

struct LocalRuntimeOptions {
  BackoffPolicy backoff;                    // CrashLoopBackOff: 1s, 2s, 4s ... 60s
  size_t log_max_bytes = 10 * 1024 * 1024;  // per instance log file before rotation
  Duration log_check_interval{1000};
  bool inherit_environment = true;  // children start from the controller's env
  Duration stop_extension{2000};    // after a preStop that used the whole grace
  // The most instances one revision may have. Validation refuses a Rollout asking for more
  // (manifests::LoadLimits::max_replicas, set from the same serve option); this is the backstop
  // for a request that did not come through it (a record read back from the state dir).
  int max_replicas = 256;
};

class Supervisor;

class LocalProcessRuntime final : public Runtime {
 public:
  LocalProcessRuntime(boost::asio::io_context& io, Clock& clock, std::string state_dir,
                      LocalRuntimeOptions options = {});
  ~LocalProcessRuntime() override;
  LocalProcessRuntime(const LocalProcessRuntime&) = delete;
  LocalProcessRuntime& operator=(const LocalProcessRuntime&) = delete;

  // Problems met when opening the state dir and adopting (unreadable records, ...). Empty = ok.
  std::vector<std::string> startup_problems() const;

  // Probe attempts that Sluice could not make for lack of its own resources (EMFILE, ENFILE,
  // ENOMEM, ENOBUFS, EAGAIN; healthcheck/probe.h), by (rollout, reason); never counted against
  // an instance. Any thread.
  std::map<std::pair<std::string, std::string>, uint64_t> probe_errors() const;
  // The same as Prometheus text: sluice_probe_errors_total{rollout,reason}.
  std::string metrics_text() const;

  void scale(const RevisionSpec& spec, int replicas) override;
  void set_role(std::string_view rollout, int64_t revision, InstanceRole role) override;
  void run_hook(std::string_view rollout, int64_t revision, HookKind kind,
                std::function<void(std::vector<HookResult>)> done) override;
  std::vector<InstanceStatus> observe(std::string_view rollout) const override;
  std::vector<std::string> rollouts() const override;
  void set_listener(Listener listener) override;
  void set_before_stop(BeforeStop before_stop) override;
  std::vector<InstanceLog> read_logs(const LogQuery& query) const override;
  void drop_logs(std::string_view rollout, std::optional<int64_t> revision) override;

 private:
  std::shared_ptr<Supervisor> supervisor_;
};

// <checkout_dir>/<working_dir>, canonical; an absolute workingDir or one that leaves the checkout
// (.., symlinks) is rejected, as is a missing directory.
Result<std::string> resolve_working_dir(const std::string& checkout_dir,
                                        const std::string& working_dir);

}  // namespace sluice::runtime
