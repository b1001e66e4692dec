// The node of a test cluster. There are no real kubelets here (no container runtime), so the
// tests play the node against the real control plane (KubeControlPlane), as a kubelet would:
//
// - registers a Ready Node and binds every unscheduled Pod to it (the scheduler's job too);
// - reports Pod status: phase, conditions, a Pod IP, containerStatuses (ready, started,
//   restartCount, state and lastState with exit code and reason);
// - finishes graceful deletion: a Pod with a deletionTimestamp has its processes stopped and is
//   then deleted with grace 0 and a UID precondition, as the kubelet does;
// - per Pod, as the test chooses (PodBehavior): ready after a delay, never ready, a crash loop
//   with rising restart counts, or the containers' command/args run as local processes that
//   listen on the Pod IP they are given (env from `value` and `fieldRef` status.podIP,
//   metadata.name, metadata.namespace; `$(VAR)` expanded in command and args, as Kubernetes does),
//   ready when their httpGet readiness probe answers 2xx.
//
// Pod IPs are loopback (127.1.x.y) by default, so tests can reach the processes; only loopback is
// ever a network target. The apiserver refuses loopback addresses in EndpointSlices, so a test of
// the endpointslice controller itself asks for PodNetwork::kDocumentation: addresses from
// TEST-NET-1 (192.0.2.0/24, RFC 5737), which nothing ever connects to.
//
// Threads: start() runs a watch thread and a worker thread; set_behavior() and the accessors may
// be called from any thread. The destructor stops both threads and every process it started.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace sluice::kube {
class RestClient;
}

namespace sluice::testing {

struct PodBehavior {
  enum class Kind {
    kReady,        // Running, and Ready after `ready_after`
    kNeverReady,   // Running, never Ready
    kCrashLoop,    // the container exits with `exit_code` every `restart_every`: CrashLoopBackOff
    kRunCommand,   // run the containers' command/args as local processes on the Pod IP
  };
  Kind kind = Kind::kReady;
  std::chrono::milliseconds ready_after{0};
  int exit_code = 1;
  std::string reason = "Error";
  std::chrono::milliseconds restart_every{500};
};

struct KubeletOptions {
  std::string node_name = "sluice-test-node";
  enum class PodNetwork { kLoopback, kDocumentation };
  PodNetwork pod_network = PodNetwork::kLoopback;
  // Where the processes of kRunCommand Pods write their output (one file per container start).
  std::string log_dir = "/tmp";
};

class KubeletStandIn {
 public:
  using BehaviorFn = std::function<PodBehavior(const nlohmann::json& pod)>;

  // Registers the Node and starts playing it. `kubeconfig` is an admin kubeconfig.
  static Result<std::unique_ptr<KubeletStandIn>> start(const std::string& kubeconfig,
                                                       KubeletOptions options = {});
  ~KubeletStandIn();
  KubeletStandIn(const KubeletStandIn&) = delete;
  KubeletStandIn& operator=(const KubeletStandIn&) = delete;

  // Chooses the behaviour of each Pod that starts from now on (default: ready at once).
  void set_behavior(BehaviorFn behavior);

  // The IP the stand-in gave a Pod ("" when it has none yet).
  std::string pod_ip(const std::string& ns, const std::string& name) const;
  // How many Pods it has started (bound and given an IP) and finished deleting, in all.
  int pods_started() const { return pods_started_.load(); }
  int pods_deleted() const { return pods_deleted_.load(); }
  // The last error it met talking to the apiserver ("" when none), for failure messages.
  std::string last_error() const;

  void stop();

 private:
  struct Container;
  struct Pod;
  explicit KubeletStandIn(KubeletOptions options);
  Status register_node();
  void watch_loop();
  void work_loop();
  void sync_pod(Pod& pod, const nlohmann::json& object);
  void start_pod(Pod& pod, const nlohmann::json& spec);
  void start_process(Pod& pod, Container& container);
  void update_containers(Pod& pod);
  Status report_status(Pod& pod);
  void finish_deletion(Pod& pod, const nlohmann::json& object);
  std::string next_ip();
  void note_error(const std::string& what);

  KubeletOptions options_;
  std::unique_ptr<kube::RestClient> client_;
  std::atomic<bool> stop_{false};
  std::thread watcher_;
  std::thread worker_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Pod>> pods_;  // by UID; guarded by mu_
  BehaviorFn behavior_;                              // guarded by mu_
  std::string last_error_;                           // guarded by mu_
  int next_ip_ = 0;                                  // worker thread only
  std::atomic<int> pods_started_{0};
  std::atomic<int> pods_deleted_{0};
};

}  // namespace sluice::testing
