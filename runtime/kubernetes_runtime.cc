#include "runtime/kubernetes_runtime.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <mutex>
#include <set>

#include "healthcheck/probe_http.h"
#include "healthcheck/probe_target.h"
#include "runtime/kubernetes_objects.h"

namespace sluice::runtime {

using kube::ObjectRef;
using kube::ResourceKind;
using kube::WriteResult;
using nlohmann::json;
namespace asio = boost::asio;

namespace {

using RevisionKey = std::pair<std::string, int64_t>;

std::string label_of(const json& object, const char* key) {
  const json::json_pointer labels("/metadata/labels");
  if (!object.contains(labels) || !object[labels].is_object()) return {};
  auto it = object[labels].find(key);
  return it != object[labels].end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string role_of(const json& object, const json::json_pointer& annotations) {
  if (!object.contains(annotations) || !object[annotations].is_object()) return {};
  auto it = object[annotations].find(k8s::kRoleAnnotation);
  return it != object[annotations].end() && it->is_string() ? it->get<std::string>()
                                                            : std::string();
}

bool of_revision(const json& object, const std::string& rollout, int64_t revision) {
  return k8s::managed_by_sluice(object, rollout) &&
         label_of(object, k8s::kRevisionLabel) == std::to_string(revision);
}

const json::json_pointer kPodAnnotations("/metadata/annotations");
const json::json_pointer kTemplateAnnotations("/spec/template/metadata/annotations");

}  // namespace

struct KubernetesRuntime::Shared {
  Shared(kube::Cluster& c, std::string ns) : cluster(c), namespace_name(std::move(ns)) {}

  kube::Cluster& cluster;
  const std::string namespace_name;
  std::shared_ptr<kube::Informer> pods;
  std::shared_ptr<kube::Informer> replica_sets;

  mutable std::mutex mu;
  Listener listener;
  BeforeStop before_stop;
  std::map<std::string, std::string> problems;  // rollout -> last failure
  std::map<RevisionKey, InstanceRole> roles;    // the last set_role per revision
  std::map<RevisionKey, manifests::Lifecycle> lifecycles;

  void notify(const std::string& rollout) {
    Listener copy;
    {
      std::lock_guard lock(mu);
      copy = listener;
    }
    if (copy && !rollout.empty()) copy(rollout);
  }

  void report(const std::string& rollout, const std::string& what, const Status& status) {
    {
      std::lock_guard lock(mu);
      if (status.is_ok()) {
        if (problems.erase(rollout) == 0) return;
      } else {
        problems[rollout] = fmt::format("{}: {}", what, status.message());
      }
    }
    if (!status.is_ok()) spdlog::warn("kubernetes runtime: {}: {}", what, status.message());
    notify(rollout);
  }

  std::optional<InstanceRole> role_for(const std::string& rollout, int64_t revision) const {
    std::lock_guard lock(mu);
    auto it = roles.find({rollout, revision});
    if (it == roles.end()) return std::nullopt;
    return it->second;
  }
};

namespace {

using SharedPtr = std::shared_ptr<KubernetesRuntime::Shared>;
using WeakShared = std::weak_ptr<KubernetesRuntime::Shared>;

kube::WriteCallback reporting(const WeakShared& weak, std::string rollout, std::string what) {
  return [weak, rollout = std::move(rollout), what = std::move(what)](Result<WriteResult> r) {
    if (auto shared = weak.lock()) shared->report(rollout, what, r.status());
  };
}

// Sets the role annotation at `annotations` of `object` when it differs. An object Sluice does
// not manage for the rollout is not touched.
void patch_role(const SharedPtr& shared, ResourceKind kind, const json& object,
                const std::string& rollout, const json::json_pointer& annotations,
                InstanceRole role) {
  if (!k8s::managed_by_sluice(object, rollout) || role_of(object, annotations) == role_name(role)) {
    return;
  }
  json body = json::object();
  body[annotations][k8s::kRoleAnnotation] = role_name(role);
  const ObjectRef ref{kind, shared->namespace_name,
                      object.value("/metadata/name"_json_pointer, std::string())};
  shared->cluster.patch(
      ref, kube::PatchType::kMerge, body.dump(),
      reporting(shared, rollout,
                fmt::format("set role {} on {}", role_name(role), ref.describe())));
}

// The patch that sets a ReplicaSet's replicas, computed from the object on the server: only an
// object Sluice manages for this rollout and revision is changed.
kube::MakePatch replicas_patch(std::string rollout, int64_t revision, int replicas, ObjectRef ref) {
  return [rollout = std::move(rollout), revision, replicas,
          ref = std::move(ref)](const json& current) -> Result<std::string> {
    if (!k8s::managed_by_sluice(current, rollout)) {
      return failed_precondition(fmt::format(
          "{} exists without the labels {}={} and {}={}; Sluice leaves it alone", ref.describe(),
          k8s::kManagedByLabel, k8s::kManagedByValue, k8s::kRolloutLabel, rollout));
    }
    if (label_of(current, k8s::kRevisionLabel) != std::to_string(revision)) {
      return failed_precondition(fmt::format("{} belongs to revision {}, not {}", ref.describe(),
                                             label_of(current, k8s::kRevisionLabel), revision));
    }
    json patch = {{"metadata", {{"resourceVersion", current["metadata"]["resourceVersion"]}}},
                  {"spec", {{"replicas", replicas}}}};
    return patch.dump();
  };
}

}  // namespace

Result<std::unique_ptr<KubernetesRuntime>> KubernetesRuntime::create(
    asio::io_context& io, kube::Cluster& cluster, KubernetesRuntimeOptions options) {
  if (options.namespace_name.empty()) {
    return invalid_argument("kubernetes runtime: the namespace is required");
  }
  if (!options.pod_template) {
    return invalid_argument("kubernetes runtime: no source of template.kubernetes");
  }
  auto shared = std::make_shared<Shared>(cluster, options.namespace_name);
  const std::string selector = fmt::format("{}={}", k8s::kManagedByLabel, k8s::kManagedByValue);
  for (auto [kind, slot] : {std::pair{ResourceKind::kPod, &shared->pods},
                            std::pair{ResourceKind::kReplicaSet, &shared->replica_sets}}) {
    kube::InformerSpec spec;
    spec.kind = kind;
    spec.namespace_name = options.namespace_name;
    spec.label_selector = selector;
    spec.index_labels = {k8s::kRolloutLabel};
    auto informer = cluster.informer(spec);
    if (!informer) return informer.status();
    *slot = *informer;
  }

  const WeakShared weak = shared;
  auto changed = [weak](const kube::Object& object) {
    if (auto s = weak.lock()) s->notify(label_of(*object, k8s::kRolloutLabel));
  };
  auto fresh = [weak](bool) {
    auto s = weak.lock();
    if (!s) return;
    std::set<std::string> rollouts;
    for (const auto& informer : {s->pods, s->replica_sets}) {
      for (const kube::Object& object : informer->list()) {
        rollouts.insert(label_of(*object, k8s::kRolloutLabel));
      }
    }
    for (const std::string& rollout : rollouts) s->notify(rollout);
  };
  kube::InformerHandlers rs_handlers;
  rs_handlers.on_add = changed;
  rs_handlers.on_update = [changed](const kube::Object&, const kube::Object& now) { changed(now); };
  rs_handlers.on_delete = changed;
  rs_handlers.on_fresh = fresh;
  shared->replica_sets->add_handlers(rs_handlers);

  kube::InformerHandlers pod_handlers = rs_handlers;
  pod_handlers.on_fresh = nullptr;  // one notification per rollout is enough
  // A Pod the ReplicaSet created from a template written before the last set_role: correct it.
  pod_handlers.on_add = [weak, changed](const kube::Object& pod) {
    changed(pod);
    auto s = weak.lock();
    if (!s) return;
    const std::string rollout = label_of(*pod, k8s::kRolloutLabel);
    auto observed = k8s::observe_pod(*pod);
    if (!observed) return;
    if (auto role = s->role_for(rollout, observed->status.revision)) {
      patch_role(s, ResourceKind::kPod, *pod, rollout, kPodAnnotations, *role);
    }
  };
  shared->pods->add_handlers(pod_handlers);

  return std::unique_ptr<KubernetesRuntime>(
      new KubernetesRuntime(io, cluster, std::move(options), std::move(shared)));
}

KubernetesRuntime::KubernetesRuntime(asio::io_context& io, kube::Cluster& cluster,
                                     KubernetesRuntimeOptions options,
                                     std::shared_ptr<Shared> shared)
    : io_(io), cluster_(cluster), options_(std::move(options)), shared_(std::move(shared)) {}

KubernetesRuntime::~KubernetesRuntime() = default;

bool KubernetesRuntime::is_fresh() const {
  return shared_->pods->is_fresh() && shared_->replica_sets->is_fresh();
}

std::map<std::string, std::string> KubernetesRuntime::problems() const {
  std::lock_guard lock(shared_->mu);
  return shared_->problems;
}

void KubernetesRuntime::scale(const RevisionSpec& spec, int replicas) {
  const std::string what =
      fmt::format("scale {} revision {} to {}", spec.rollout, spec.revision, replicas);
  Result<json> pod_template = options_.pod_template(spec);
  if (!pod_template) return shared_->report(spec.rollout, what, pod_template.status());
  k8s::KubeRevision revision;
  revision.namespace_name = options_.namespace_name;
  revision.rollout = spec.rollout;
  revision.revision = spec.revision;
  revision.commit = spec.commit;
  revision.version = spec.pod.version;
  revision.pod_template = std::move(*pod_template);
  revision.role = shared_->role_for(spec.rollout, spec.revision).value_or(spec.role);
  Result<json> replica_set = k8s::replica_set_object(revision, replicas);
  if (!replica_set) return shared_->report(spec.rollout, what, replica_set.status());
  {
    std::lock_guard lock(shared_->mu);
    shared_->lifecycles[{spec.rollout, spec.revision}] = spec.pod.lifecycle;
  }

  const ObjectRef ref{ResourceKind::kReplicaSet, options_.namespace_name,
                      (*replica_set)["metadata"]["name"].get<std::string>()};
  const kube::Object cached = shared_->replica_sets->get(ref.namespace_name, ref.name);
  if (cached && of_revision(*cached, spec.rollout, spec.revision) &&
      cached->value("/spec/replicas"_json_pointer, -1) == replicas) {
    return;  // already declared; nothing to write
  }
  const WeakShared weak = shared_;
  auto patch_replicas = [weak, ref, rollout = spec.rollout, revision = spec.revision, replicas,
                         what] {
    if (auto s = weak.lock()) {
      s->cluster.update(ref, kube::PatchType::kMerge,
                        replicas_patch(rollout, revision, replicas, ref),
                        reporting(weak, rollout, what));
    }
  };
  if (cached) return patch_replicas();
  // Not in the cache: create it; if it exists after all (the cache lags, or it is someone
  // else's object, which the informer does not select), patch it, which checks its labels.
  cluster_.create(ResourceKind::kReplicaSet, options_.namespace_name, std::move(*replica_set),
                  [weak, rollout = spec.rollout, what, patch_replicas](Result<WriteResult> r) {
                    if (!r && r.status().code() == StatusCode::kAlreadyExists) {
                      return patch_replicas();
                    }
                    if (auto s = weak.lock()) s->report(rollout, what, r.status());
                  });
}

void KubernetesRuntime::set_role(std::string_view rollout_view, int64_t revision,
                                 InstanceRole role) {
  const std::string rollout(rollout_view);
  {
    std::lock_guard lock(shared_->mu);
    shared_->roles[{rollout, revision}] = role;
  }
  for (const kube::Object& rs : shared_->replica_sets->by_label(k8s::kRolloutLabel, rollout)) {
    if (of_revision(*rs, rollout, revision)) {
      patch_role(shared_, ResourceKind::kReplicaSet, *rs, rollout, kTemplateAnnotations, role);
    }
  }
  for (const kube::Object& pod : shared_->pods->by_label(k8s::kRolloutLabel, rollout)) {
    if (of_revision(*pod, rollout, revision)) {
      patch_role(shared_, ResourceKind::kPod, *pod, rollout, kPodAnnotations, role);
    }
  }
}

void KubernetesRuntime::run_hook(std::string_view rollout_view, int64_t revision, HookKind kind,
                                 std::function<void(std::vector<HookResult>)> done) {
  const std::string rollout(rollout_view);
  std::optional<manifests::LifecycleHandler> handler;
  {
    std::lock_guard lock(shared_->mu);
    if (auto it = shared_->lifecycles.find({rollout, revision}); it != shared_->lifecycles.end()) {
      const manifests::Lifecycle& lifecycle = it->second;
      handler = kind == HookKind::kActivate     ? lifecycle.activate
                : kind == HookKind::kDeactivate ? lifecycle.deactivate
                                                : lifecycle.pre_stop;
    }
  }
  // The Pods that run: scheduled, with an IP, not being deleted.
  std::vector<std::pair<InstanceStatus, std::string>> targets;
  if (handler && handler->defined()) {
    for (const kube::Object& pod : shared_->pods->by_label(k8s::kRolloutLabel, rollout)) {
      if (!of_revision(*pod, rollout, revision)) continue;
      auto observed = k8s::observe_pod(*pod);
      if (!observed || observed->status.terminating || observed->pod_ip.empty()) continue;
      targets.emplace_back(std::move(observed->status), observed->pod_ip);
    }
  }
  if (targets.empty()) {
    asio::post(io_, [done = std::move(done)] { done({}); });
    return;
  }

  struct Gather {
    std::mutex mu;
    std::vector<HookResult> results;
    size_t pending = 0;
    std::function<void(std::vector<HookResult>)> done;
  };
  auto gather = std::make_shared<Gather>();
  gather->pending = targets.size();
  gather->done = std::move(done);
  auto finish = [gather](HookResult result) {
    std::function<void(std::vector<HookResult>)> answer;
    std::vector<HookResult> results;
    {
      std::lock_guard lock(gather->mu);
      gather->results.push_back(std::move(result));
      if (--gather->pending > 0) return;
      answer = std::move(gather->done);
      results = std::move(gather->results);
    }
    std::sort(results.begin(), results.end(), [](const HookResult& a, const HookResult& b) {
      return a.instance_id < b.instance_id;
    });
    answer(std::move(results));
  };
  for (const auto& [instance, pod_ip] : targets) {
    HookResult failed;
    failed.instance_id = instance.id;
    failed.kind = kind;
    if (!handler->http_post) {
      // The kubelet runs commands inside containers; Sluice has no exec into Pods.
      failed.message = fmt::format(
          "{} hook: exec is not supported by the kubernetes runtime; use "
          "httpPost",
          hook_name(kind));
      asio::post(io_, [finish, failed] { finish(failed); });
      continue;
    }
    auto port = healthcheck::resolve_port(handler->http_post->port, instance.ports);
    if (!port) {
      failed.message = port.status().message();
      asio::post(io_, [finish, failed] { finish(failed); });
      continue;
    }
    healthcheck::HttpRequestSpec request;
    request.method = "POST";
    request.host = pod_ip;  // a Pod's own address; httpPost.host does not apply (as Kubernetes)
    request.port = *port;
    request.path = handler->http_post->path;
    request.headers = handler->http_post->http_headers;
    request.timeout = handler->timeout;
    const auto started = std::chrono::steady_clock::now();
    healthcheck::async_http_request(
        io_.get_executor(), std::move(request),
        [finish, id = instance.id, kind, started](healthcheck::HttpOutcome outcome) {
          HookResult result;
          result.instance_id = id;
          result.kind = kind;
          result.ok = outcome.ok();
          result.message = outcome.describe();
          result.took =
              std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started);
          finish(std::move(result));
        });
  }
}

std::vector<InstanceStatus> KubernetesRuntime::observe(std::string_view rollout_view) const {
  const std::string rollout(rollout_view);
  std::vector<InstanceStatus> out;
  for (const kube::Object& pod : shared_->pods->by_label(k8s::kRolloutLabel, rollout)) {
    if (!k8s::managed_by_sluice(*pod, rollout)) continue;
    auto observed = k8s::observe_pod(*pod);
    if (observed) out.push_back(std::move(observed->status));
  }
  std::sort(out.begin(), out.end(), [](const InstanceStatus& a, const InstanceStatus& b) {
    return std::tie(a.revision, a.creation_order, a.id) <
           std::tie(b.revision, b.creation_order, b.id);
  });
  return out;
}

std::vector<std::string> KubernetesRuntime::rollouts() const {
  std::set<std::string> names;
  for (const auto& informer : {shared_->pods, shared_->replica_sets}) {
    for (const kube::Object& object : informer->list()) {
      const std::string rollout = label_of(*object, k8s::kRolloutLabel);
      if (!rollout.empty()) names.insert(rollout);
    }
  }
  return {names.begin(), names.end()};
}

void KubernetesRuntime::set_listener(Listener listener) {
  std::lock_guard lock(shared_->mu);
  shared_->listener = std::move(listener);
}

void KubernetesRuntime::set_before_stop(BeforeStop before_stop) {
  std::lock_guard lock(shared_->mu);
  shared_->before_stop = std::move(before_stop);
}

std::vector<InstanceLog> KubernetesRuntime::read_logs(const LogQuery&) const { return {}; }

void KubernetesRuntime::drop_logs(std::string_view, std::optional<int64_t>) {}

}  // namespace sluice::runtime
