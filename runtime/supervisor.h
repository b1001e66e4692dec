// Internal to LocalProcessRuntime: the state and logic that live on the runtime's strand.
// supervisor.cc holds the revision-level operations (scale, roles, hooks, adoption, snapshots);
// supervisor_instance.cc the life of one instance (spawn, exit, probes, restart, stop).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "healthcheck/probe.h"
#include "runtime/local_process_runtime.h"
#include "runtime/port_allocator.h"
#include "runtime/state_store.h"

namespace sluice::runtime {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

struct Instance {
  enum class Phase { kWaiting, kRunning, kStopping };

  Instance(const Strand& strand) : timer(strand), kill_timer(strand) {}

  InstanceRecord rec;
  std::shared_ptr<const RevisionSpec> spec;
  Phase phase = Phase::kWaiting;
  bool adopted = false;     // the process is not our child (spawned by a previous runtime)
  uint64_t generation = 0;  // bumped per process; stale callbacks compare it
  std::unique_ptr<boost::asio::posix::stream_descriptor> pidfd;
  boost::asio::steady_timer timer;       // restart back-off
  boost::asio::steady_timer kill_timer;  // SIGKILL after the grace period
  std::shared_ptr<healthcheck::Prober> startup, readiness, liveness;
  std::set<std::string> allocated_ports;  // names of ports with containerPort 0
  healthcheck::ProbeTarget target;
  bool started = false;
  bool ready = false;
  bool live = true;
  bool crash_loop = false;
  std::optional<ExitInfo> last_exit;
  std::string last_error;
  std::string kill_reason;  // set when we kill a running process for a probe failure
  TimePoint probe_error_logged{};  // last log line about a probe error of Sluice's own
  uint64_t probe_resource_errors = 0;  // this instance's, since this runtime started
  std::string last_probe_resource_error;
  TimePoint ready_since{};
  std::chrono::steady_clock::time_point run_started{};
  std::chrono::steady_clock::time_point stop_started{};
};

struct Revision {
  std::shared_ptr<const RevisionSpec> spec;
  int replicas = 0;
  int next_index = 0;
};

class Supervisor : public std::enable_shared_from_this<Supervisor> {
 public:
  Supervisor(boost::asio::io_context& io, Clock& clock, std::string state_dir,
             LocalRuntimeOptions options);

  // Constructor phase (controller thread, before anything runs on the strand).
  void load_state();
  // Strand: takes over the loaded instances (watch or restart) and starts log rotation.
  void adopt_all();
  void shutdown();  // no thread may be running the io_context

  // Strand.
  void scale(const RevisionSpec& spec, int replicas);
  void set_role(const std::string& rollout, int64_t revision, InstanceRole role);
  void run_hook(const std::string& rollout, int64_t revision, HookKind kind,
                std::function<void(std::vector<HookResult>)> done);
  void drop_logs(const std::string& rollout, std::optional<int64_t> revision);

  // Any thread.
  std::vector<InstanceStatus> observe(const std::string& rollout) const;
  std::vector<std::string> rollouts() const;
  std::vector<std::string> problems() const;
  std::vector<InstanceLog> read_logs(const LogQuery& query) const;
  // Probe attempts that failed for lack of Sluice's own resources: (rollout, reason) -> count.
  std::map<std::pair<std::string, std::string>, uint64_t> probe_errors() const;
  void set_listener(Runtime::Listener listener);
  void set_before_stop(Runtime::BeforeStop before_stop);

  Strand& strand() { return strand_; }

 private:
  using InstancePtr = std::shared_ptr<Instance>;
  using RevisionKey = std::pair<std::string, int64_t>;

  // supervisor.cc
  void reconcile(const RevisionKey& key);
  InstancePtr create_instance(Revision& revision);
  void publish(const Instance& inst);
  void unpublish(const Instance& inst);
  InstanceStatus status_of(const Instance& inst) const;
  void persist(Instance& inst);  // the record, with the instance's readiness
  void add_problem(std::string problem);
  void schedule_log_rotation();
  void forget_revision_if_idle(const RevisionKey& key);

  // supervisor_instance.cc
  void spawn(const InstancePtr& inst);
  // Working dir, environment and expanded argv from the spec and the allocated ports.
  Status build_environment(Instance& inst, std::vector<std::string>& argv);
  Status refresh_ports(Instance& inst);
  void watch_exit(const InstancePtr& inst);
  void on_exit(const InstancePtr& inst);
  void on_start_failure(const InstancePtr& inst, std::string error, Duration ran_for);
  void schedule_restart(const InstancePtr& inst);
  void start_probes(const InstancePtr& inst, bool adopted);
  void start_main_probes(const InstancePtr& inst, bool adopted);
  void stop_probes(Instance& inst);
  void kill_for(const InstancePtr& inst, std::string reason);
  // A probe attempt that Sluice could not make (Prober::last_was_own_error()): counted and
  // logged (at most once per 10 s per instance), never held against the instance.
  void note_probe_error(Instance& inst, const char* probe, const healthcheck::ProbeOutcome& out);
  void stop(const InstancePtr& inst);
  void send_sigterm(const InstancePtr& inst);
  void finish_stop(const InstancePtr& inst);
  void run_handler(const InstancePtr& inst, const manifests::LifecycleHandler& handler,
                   HookKind kind, Duration timeout, std::function<void(HookResult)> done);
  void write_role(Instance& inst);

  boost::asio::io_context& io_;
  Strand strand_;
  Clock& clock_;
  StateStore store_;
  LocalRuntimeOptions options_;
  PortAllocator ports_;
  boost::asio::steady_timer log_timer_;
  bool shut_down_ = false;

  std::map<std::string, InstancePtr> instances_;  // by id
  std::map<RevisionKey, Revision> revisions_;
  // Revisions (and Rollouts) whose logs were dropped: an instance of theirs that stops later
  // leaves no kept log. A new scale() of the revision (or of any revision of the Rollout) clears
  // the mark.
  std::set<RevisionKey> dropped_revisions_;
  std::set<std::string> dropped_rollouts_;

  mutable std::mutex mu_;  // guards the members below (read from any thread)
  std::map<std::string, std::map<std::string, InstanceStatus>> snapshot_;  // rollout -> id ->
  std::vector<std::string> problems_;
  std::map<std::pair<std::string, std::string>, uint64_t> probe_errors_;
  Runtime::Listener listener_;
  Runtime::BeforeStop before_stop_;
};

}  // namespace sluice::runtime
