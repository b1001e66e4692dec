// KubernetesRuntime: the Runtime whose instances are the Pods of one ReplicaSet per revision
// (/work/shared/reference/kubernetes.md). The ReplicaSet controller and the kubelet do what
// LocalProcessRuntime's supervisor does locally (start, restart with CrashLoopBackOff, probe,
// stop); this runtime declares replicas, reads the Pods and keeps their role annotation current.
//
// - scale: creates the revision's ReplicaSet (kubernetes_objects.h) or patches its
//   spec.replicas; an existing one with Sluice's labels is adopted (a restart, another replica
//   of Sluice). An object with the ReplicaSet's name but without `app.kubernetes.io/managed-by:
//   sluice` and the rollout's label is left alone and reported as a problem. Scaling to 0 keeps
//   the ReplicaSet (deleting old ones is the controller's history clean-up, not this slice).
// - observe/rollouts: read the Pod and ReplicaSet informers' caches (by label), never the API.
//   Callers that act on absence or counts check is_fresh() first (kube/informer.h).
// - set_role: patches `sluice.dev/role` on every Pod of the revision and on the ReplicaSet's
//   Pod template (so Pods created later start with it); a Pod that appears with another role
//   is patched when the informer reports it.
// - run_hook: httpPost to each running Pod of the revision (an IP, no deletionTimestamp) at its
//   IP and the container port the hook names (a port name or number), POST on the io_context
//   (healthcheck/probe_http.h), bounded by the hook's timeout; `done` gets one HookResult per
//   Pod, sorted by Pod name, on the io_context. An exec hook fails per Pod (Sluice does not exec
//   into containers). No Pod or no such hook: an empty vector.
// - read_logs/drop_logs: no logs yet (the pod log API is a later slice).
// - before_stop is stored but not called: the endpoints controller takes a terminating Pod out
//   of its Services; Sluice's own router is not used with this runtime.
//
// Threads: the public methods may be called from any thread (the controller strand) and never
// block: writes go to the Cluster's workers, reads take the informers' shared locks. State
// shared with write callbacks and informer handlers (which run on the Cluster's threads) lives
// in a mutex-guarded block owned through a shared_ptr, so callbacks that outlive the runtime are
// harmless. The listener is called on those threads; run_hook's work and `done` run on the
// io_context.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include <boost/asio/io_context.hpp>

#include "base/clock.h"
#include "kube/cluster.h"
#include "runtime/runtime.h"

namespace sluice::runtime {

struct KubernetesRuntimeOptions {
  std::string namespace_name;  // where the ReplicaSets and Pods live; required
  // The revision's `template.kubernetes` (a PodTemplateSpec). manifests::PodTemplate does not
  // carry it yet; until it does, the caller supplies it. An error is reported as a problem.
  std::function<Result<nlohmann::json>(const RevisionSpec&)> pod_template;
};

class KubernetesRuntime final : public Runtime {
 public:
  // Starts (or shares) the namespace's ReplicaSet and Pod informers, selected by
  // `app.kubernetes.io/managed-by=sluice` and indexed by rollout. Errors: an empty namespace, no
  // pod_template function, or the cluster refusing an informer.
  static Result<std::unique_ptr<KubernetesRuntime>> create(boost::asio::io_context& io,
                                                           kube::Cluster& cluster,
                                                           KubernetesRuntimeOptions options);
  ~KubernetesRuntime() override;
  KubernetesRuntime(const KubernetesRuntime&) = delete;
  KubernetesRuntime& operator=(const KubernetesRuntime&) = delete;

  // Both informers have a complete, current list (kube/informer.h's freshness contract).
  bool is_fresh() const;
  // The last failure per rollout (a template that cannot run, a refused write, a foreign object
  // in the way), one line naming the object; cleared by the next success for that rollout.
  std::map<std::string, std::string> problems() const;

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

  struct Shared;

 private:
  KubernetesRuntime(boost::asio::io_context& io, kube::Cluster& cluster,
                    KubernetesRuntimeOptions options, std::shared_ptr<Shared> shared);

  boost::asio::io_context& io_;
  kube::Cluster& cluster_;
  const KubernetesRuntimeOptions options_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace sluice::runtime
