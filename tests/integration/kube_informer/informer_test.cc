// kube/'s Cluster against a real kube-apiserver + etcd + kube-controller-manager: informers list
// and watch label-selected ReplicaSets, Pods and Services, bookmarks advance the
// resourceVersion, an apiserver outage of 10 s makes the informers stale and they recover to the
// server's state, a resourceVersion the server no longer has gets 410 Gone and a relist,
// 409 Conflict is retried, and RBAC refusals and validation errors name the object.
// A missing peer fails these tests with the `make peers` line; it never skips them.
#include <catch2/catch.hpp>

#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "kube/kubeconfig.h"
#include "kube/rest_client.h"
#include "kube/rest_cluster.h"
#include "tests/support/peers/kube_control_plane.h"
#include "tests/support/process/test_process.h"

using nlohmann::json;
using sluice::Result;
using sluice::StatusCode;
using sluice::SystemClock;
using sluice::kube::Informer;
using sluice::kube::InformerHandlers;
using sluice::kube::InformerSpec;
using sluice::kube::Object;
using sluice::kube::ObjectRef;
using sluice::kube::PatchType;
using sluice::kube::ResourceKind;
using sluice::kube::RestClient;
using sluice::kube::RestCluster;
using sluice::kube::RestClusterOptions;
using sluice::kube::WriteCallback;
using sluice::kube::WriteResult;
using sluice::testing::KubeControlPlane;
using sluice::testing::poll_until;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSelector = "app.kubernetes.io/managed-by=sluice,sluice.dev/rollout=web";
constexpr const char* kHash = "rollouts-pod-template-hash";

std::unique_ptr<KubeControlPlane> start_plane() {
  auto plane = KubeControlPlane::start();
  INFO((plane ? std::string() : plane.status().message()));
  REQUIRE(plane);
  return std::move(plane).value();
}

sluice::kube::ClusterConfig config_from(const std::string& kubeconfig) {
  auto config = sluice::kube::load_kubeconfig(kubeconfig);
  INFO((config ? std::string() : config.status().message()));
  REQUIRE(config);
  return config.value();
}

std::unique_ptr<RestClient> admin_client(const KubeControlPlane& plane) {
  auto client = RestClient::create(config_from(plane.kubeconfig()));
  REQUIRE(client);
  return std::move(client).value();
}

std::unique_ptr<RestCluster> make_cluster(const std::string& kubeconfig,
                                          RestClusterOptions options = {}) {
  options.seed = 1;
  auto cluster = RestCluster::create(config_from(kubeconfig), options, SystemClock::instance());
  INFO((cluster ? std::string() : cluster.status().message()));
  REQUIRE(cluster);
  return std::move(cluster).value();
}

json labels(const std::string& rollout, const std::string& hash) {
  return {
      {"app.kubernetes.io/managed-by", "sluice"}, {"sluice.dev/rollout", rollout}, {kHash, hash}};
}

// With 0 replicas, and a selector that no test Pod matches: the controller-manager's replicaset
// controller would otherwise adopt the test's Pods and delete them.
json replica_set(const std::string& name, const std::string& rollout, const std::string& hash) {
  json selected = labels(rollout, hash);
  selected["test.sluice.dev/replicaset"] = name;
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "ReplicaSet"},
      {"metadata", {{"name", name}, {"labels", labels(rollout, hash)}}},
      {"spec",
       {{"replicas", 0},
        {"selector", {{"matchLabels", selected}}},
        {"template",
         {{"metadata", {{"labels", selected}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", "registry.example/web:1"}}}}}}}}}}};
}

json pod(const std::string& name, const std::string& rollout, const std::string& hash) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"labels", labels(rollout, hash)}}},
          {"spec", {{"containers", {{{"name", "app"}, {"image", "registry.example/web:1"}}}}}}};
}

json service(const std::string& name, const std::string& rollout) {
  return {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", name},
        {"labels", {{"app.kubernetes.io/managed-by", "sluice"}, {"sluice.dev/rollout", rollout}}}}},
      {"spec", {{"selector", {{"app", rollout}}}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}};
}

std::string collection(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kReplicaSet:
      return "/apis/apps/v1/namespaces/default/replicasets";
    case ResourceKind::kPod:
      return "/api/v1/namespaces/default/pods";
    case ResourceKind::kService:
      return "/api/v1/namespaces/default/services";
  }
  return "";
}

void admin_create(RestClient& client, ResourceKind kind, const json& object) {
  auto r = client.post(collection(kind), object);
  INFO((r ? r->error_message() : r.status().message()));
  REQUIRE(r);
  REQUIRE(r->status == 201);
}

// The "web" rollout's objects: ReplicaSet web-a, Pods web-a-1 and web-a-2, Service web-stable.
void seed_web(RestClient& admin) {
  admin_create(admin, ResourceKind::kReplicaSet, replica_set("web-a", "web", "a"));
  admin_create(admin, ResourceKind::kPod, pod("web-a-1", "web", "a"));
  admin_create(admin, ResourceKind::kPod, pod("web-a-2", "web", "a"));
  admin_create(admin, ResourceKind::kService, service("web-stable", "web"));
}

void admin_merge_patch(RestClient& client, ResourceKind kind, const std::string& name,
                       const json& patch) {
  auto r = client.patch(collection(kind) + "/" + name, patch.dump(), PatchType::kMerge);
  INFO((r ? r->error_message() : r.status().message()));
  REQUIRE(r);
  REQUIRE(r->status == 200);
}

// name -> resourceVersion, from a fresh list (the truth the cache must equal).
std::map<std::string, std::string> server_state(RestClient& client, ResourceKind kind) {
  auto r = client.get(collection(kind) +
                      "?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsluice"
                      "%2Csluice.dev%2Frollout%3Dweb");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  std::map<std::string, std::string> out;
  for (const json& item : r->json["items"]) {
    out[item["metadata"]["name"]] = item["metadata"]["resourceVersion"];
  }
  return out;
}

std::map<std::string, std::string> cache_state(const Informer& informer) {
  std::map<std::string, std::string> out;
  for (const Object& o : informer.list()) {
    out[(*o)["metadata"]["name"]] = (*o)["metadata"]["resourceVersion"];
  }
  return out;
}

std::set<std::string> names(const std::vector<Object>& objects) {
  std::set<std::string> out;
  for (const Object& o : objects) out.insert((*o)["metadata"]["name"].get<std::string>());
  return out;
}

std::shared_ptr<Informer> informer_for(RestCluster& cluster, ResourceKind kind,
                                       const std::string& selector = kSelector) {
  InformerSpec spec;
  spec.kind = kind;
  spec.namespace_name = "default";
  spec.label_selector = selector;
  spec.index_labels = {kHash};
  auto informer = cluster.informer(spec);
  REQUIRE(informer);
  return informer.value();
}

Result<WriteResult> wait_for(const std::function<void(WriteCallback)>& start) {
  auto promise = std::make_shared<std::promise<Result<WriteResult>>>();
  auto future = promise->get_future();
  start([promise](Result<WriteResult> r) { promise->set_value(std::move(r)); });
  REQUIRE(future.wait_for(30s) == std::future_status::ready);
  return future.get();
}

std::string annotation(const Object& object, const std::string& key) {
  if (object == nullptr) return "";
  const json& metadata = (*object)["metadata"];
  if (!metadata.contains("annotations") || !metadata["annotations"].contains(key)) return "";
  return metadata["annotations"][key];
}

// Events seen by a handler, for checks from the test thread.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;
  void add(std::string e) {
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
  }
  bool has(const std::string& e) {
    std::lock_guard lock(mu);
    return std::find(events.begin(), events.end(), e) != events.end();
  }
  bool any_mentions(const std::string& word) {
    std::lock_guard lock(mu);
    for (const auto& e : events) {
      if (e.find(word) != std::string::npos) return true;
    }
    return false;
  }
  InformerHandlers handlers() {
    auto name = [](const Object& o) { return (*o)["metadata"]["name"].get<std::string>(); };
    InformerHandlers h;
    h.on_add = [this, name](const Object& o) { add("add " + name(o)); };
    h.on_update = [this, name](const Object&, const Object& o) { add("update " + name(o)); };
    h.on_delete = [this, name](const Object& o) { add("delete " + name(o)); };
    h.on_fresh = [this](bool fresh) { add(fresh ? "fresh" : "stale"); };
    return h;
  }
};

}  // namespace

TEST_CASE(
    "kube informers: list and watch see label-selected ReplicaSets, Pods and Services, and "
    "bookmarks advance the resourceVersion",
    "[kube][informer]") {
  auto plane = start_plane();
  auto admin = admin_client(*plane);
  seed_web(*admin);
  // Objects of another rollout, which the informers' selector leaves out.
  admin_create(*admin, ResourceKind::kReplicaSet, replica_set("other-x", "other", "x"));
  admin_create(*admin, ResourceKind::kPod, pod("other-x-1", "other", "x"));
  admin_create(*admin, ResourceKind::kService, service("other", "other"));

  RestClusterOptions options;
  options.reflector.page_size = 1;       // every list takes several pages (limit/continue)
  options.reflector.watch_timeout = 3s;  // the apiserver bookmarks 2 s before a watch ends
  auto cluster = make_cluster(plane->kubeconfig(), options);
  auto replica_sets = informer_for(*cluster, ResourceKind::kReplicaSet);
  auto pods = informer_for(*cluster, ResourceKind::kPod);
  auto services = informer_for(*cluster, ResourceKind::kService);
  Recorder recorder;
  pods->add_handlers(recorder.handlers());
  REQUIRE(poll_until(
      [&] { return replica_sets->is_fresh() && pods->is_fresh() && services->is_fresh(); }, 20s));
  CHECK(names(replica_sets->list()) == std::set<std::string>{"web-a"});
  CHECK(names(pods->list()) == std::set<std::string>{"web-a-1", "web-a-2"});
  CHECK(names(services->list()) == std::set<std::string>{"web-stable"});
  CHECK(names(pods->by_label(kHash, "a")) == std::set<std::string>{"web-a-1", "web-a-2"});

  // Changes through the Cluster's writes, and one that the selector excludes.
  json new_pod = pod("web-b-1", "web", "b");
  REQUIRE(wait_for([&](WriteCallback done) {
    cluster->create(ResourceKind::kPod, "default", new_pod, std::move(done));
  }));
  REQUIRE(wait_for([&](WriteCallback done) {
    cluster->patch(ObjectRef{ResourceKind::kPod, "default", "web-a-1"}, PatchType::kMerge,
                   R"({"metadata":{"annotations":{"sluice.dev/role":"canary"}}})", std::move(done));
  }));
  REQUIRE(wait_for([&](WriteCallback done) {
    cluster->remove(ObjectRef{ResourceKind::kPod, "default", "web-a-2"}, std::move(done));
  }));
  REQUIRE(wait_for([&](WriteCallback done) {
    cluster->create(ResourceKind::kPod, "default", pod("other-x-2", "other", "x"), std::move(done));
  }));
  REQUIRE(wait_for([&](WriteCallback done) {
    cluster->patch(ObjectRef{ResourceKind::kService, "default", "web-stable"},
                   PatchType::kStrategicMerge,
                   R"({"spec":{"selector":{"rollouts-pod-template-hash":"b"}}})", std::move(done));
  }));
  auto applied = wait_for([&](WriteCallback done) {
    cluster->apply(ObjectRef{ResourceKind::kReplicaSet, "default", "web-a"},
                   {{"metadata", {{"annotations", {{"sluice.dev/commit", "abc123"}}}}}},
                   std::move(done));
  });
  INFO((applied ? std::string() : applied.status().message()));
  REQUIRE(applied);
  CHECK(applied->object["metadata"]["managedFields"].dump().find("\"manager\":\"sluice\"") !=
        std::string::npos);

  // (Pods that no node holds are deleted at once, without a graceful deletion.)
  REQUIRE(poll_until(
      [&] {
        return names(pods->list()) == std::set<std::string>{"web-a-1", "web-b-1"} &&
               annotation(pods->get("default", "web-a-1"), "sluice.dev/role") == "canary" &&
               annotation(replica_sets->get("default", "web-a"), "sluice.dev/commit") == "abc123" &&
               services->get("default", "web-stable") != nullptr &&
               (*services->get("default", "web-stable"))["spec"]["selector"].value(kHash, "") ==
                   "b";
      },
      20s));
  CHECK(names(pods->by_label(kHash, "b")) == std::set<std::string>{"web-b-1"});
  CHECK(names(pods->by_label(kHash, "a")) == std::set<std::string>{"web-a-1"});
  CHECK(recorder.has("add web-b-1"));
  CHECK(recorder.has("update web-a-1"));
  CHECK(recorder.has("delete web-a-2"));
  CHECK_FALSE(recorder.any_mentions("other"));
  CHECK(cache_state(*pods) == server_state(*admin, ResourceKind::kPod));

  // Bookmarks: each watch asks for timeoutSeconds in [3, 6), and the apiserver sends a bookmark
  // 2 s before it ends the watch (only when its resourceVersion moved since the last one the
  // watcher got). Once that watch has ended, the reflector watches again from the bookmark's
  // resourceVersion, without a new list, and sees the next change.
  const uint64_t rv_before = std::stoull(pods->state().resource_version);
  REQUIRE(poll_until([&] { return pods->state().bookmarks > 0; }, 15s));
  CHECK(std::stoull(pods->state().resource_version) >= rv_before);
  std::this_thread::sleep_for(2500ms);  // past the end of the watch that sent the bookmark
  admin_merge_patch(*admin, ResourceKind::kPod, "web-b-1",
                    {{"metadata", {{"annotations", {{"sluice.dev/role", "stable"}}}}}});
  REQUIRE(poll_until(
      [&] { return annotation(pods->get("default", "web-b-1"), "sluice.dev/role") == "stable"; },
      15s));
  const auto state = pods->state();
  CHECK(std::stoull(state.resource_version) > rv_before);
  CHECK(state.lists == 1);
  CHECK(state.relists_after_gone == 0);
  CHECK(state.watch_failures == 0);
  CHECK(pods->is_fresh());
}

TEST_CASE(
    "kube writes: a 409 Conflict is retried after a re-read, a 403 from RBAC, a 422 and a 404 "
    "name the object in one line",
    "[kube][writes]") {
  auto plane = start_plane();
  auto admin = admin_client(*plane);
  seed_web(*admin);
  auto cluster = make_cluster(plane->kubeconfig());
  const ObjectRef rs{ResourceKind::kReplicaSet, "default", "web-a"};

  // A concurrent writer changes the ReplicaSet after update() read it: the patch, which carries
  // the resourceVersion it was computed from, gets 409; update() reads again and succeeds.
  int calls = 0;
  auto updated = wait_for([&](WriteCallback done) {
    cluster->update(
        rs, PatchType::kMerge,
        [&](const json& current) -> Result<std::string> {
          if (++calls == 1) {
            admin_merge_patch(*admin, ResourceKind::kReplicaSet, "web-a",
                              {{"metadata", {{"annotations", {{"concurrent", "yes"}}}}}});
          }
          return json{{"metadata",
                       {{"resourceVersion", current["metadata"]["resourceVersion"]},
                        {"annotations", {{"sluice.dev/version", "2.0.0"}}}}}}
              .dump();
        },
        std::move(done));
  });
  INFO((updated ? std::string() : updated.status().message()));
  REQUIRE(updated);
  CHECK(updated->attempts == 2);
  CHECK(calls == 2);
  CHECK(updated->object["metadata"]["annotations"]["concurrent"] == "yes");
  CHECK(updated->object["metadata"]["annotations"]["sluice.dev/version"] == "2.0.0");

  // A writer that always wins: the update gives up after 5 attempts and says so.
  calls = 0;
  auto gave_up = wait_for([&](WriteCallback done) {
    cluster->update(
        rs, PatchType::kMerge,
        [&](const json& current) -> Result<std::string> {
          ++calls;
          admin_merge_patch(
              *admin, ResourceKind::kReplicaSet, "web-a",
              {{"metadata", {{"annotations", {{"concurrent", std::to_string(calls)}}}}}});
          return json{{"metadata",
                       {{"resourceVersion", current["metadata"]["resourceVersion"]},
                        {"annotations", {{"sluice.dev/version", "3.0.0"}}}}}}
              .dump();
        },
        std::move(done));
  });
  REQUIRE_FALSE(gave_up);
  CHECK(calls == 5);
  CHECK(gave_up.status().code() == StatusCode::kAlreadyExists);
  CHECK(gave_up.status().message().rfind(
            "update ReplicaSet default/web-a: gave up after 5 attempts on 409 Conflict: HTTP 409 "
            "Conflict: ",
            0) == 0);

  // The client-side limit applies to every request: at 0.1 QPS with a burst of 1, the second
  // request would wait 10 s for its token, more than its 2 s timeout, so it fails at once.
  RestClusterOptions slow;
  slow.rate_limit = {/*qps=*/0.1, /*burst=*/1};
  slow.client.timeout = 2s;
  auto limited = make_cluster(plane->kubeconfig(), slow);
  const auto annotate = [&](WriteCallback done) {
    limited->patch(rs, PatchType::kMerge, R"({"metadata":{"annotations":{"limited":"yes"}}})",
                   std::move(done));
  };
  REQUIRE(wait_for(annotate));
  auto throttled = wait_for(annotate);
  REQUIRE_FALSE(throttled);
  CHECK(throttled.status().code() == StatusCode::kDeadlineExceeded);
  // (The wait is 10 s less the time since the first token was taken.)
  CHECK(throttled.status().message().rfind(
            "patch ReplicaSet default/web-a: client-side rate limit (0.1 QPS, burst 1): the "
            "request would wait ",
            0) == 0);
  CHECK(throttled.status().message().find(" ms, more than its 2000 ms timeout") !=
        std::string::npos);

  // 422: a Pod without containers.
  auto invalid = wait_for([&](WriteCallback done) {
    cluster->create(ResourceKind::kPod, "default",
                    {{"metadata", {{"name", "bad"}}}, {"spec", {{"containers", json::array()}}}},
                    std::move(done));
  });
  REQUIRE_FALSE(invalid);
  CHECK(invalid.status().code() == StatusCode::kInvalidArgument);
  CHECK(invalid.status().message().rfind("create Pod default/bad: HTTP 422 Invalid: ", 0) == 0);

  // 404.
  auto missing = wait_for([&](WriteCallback done) {
    cluster->remove(ObjectRef{ResourceKind::kPod, "default", "missing"}, std::move(done));
  });
  REQUIRE_FALSE(missing);
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message() ==
        "delete Pod default/missing: HTTP 404 NotFound: pods \"missing\" not found");

  // 403: a ServiceAccount that may only read Pods, with a token from the TokenRequest API.
  auto sa = admin->post("/api/v1/namespaces/default/serviceaccounts",
                        {{"metadata", {{"name", "viewer"}}}});
  REQUIRE(sa);
  REQUIRE(sa->status == 201);
  auto role = admin->post(
      "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
      {{"metadata", {{"name", "pod-reader"}}},
       {"rules",
        {{{"apiGroups", {""}}, {"resources", {"pods"}}, {"verbs", {"get", "list", "watch"}}}}}});
  REQUIRE(role);
  REQUIRE(role->status == 201);
  auto binding = admin->post(
      "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
      {{"metadata", {{"name", "viewer-pod-reader"}}},
       {"roleRef",
        {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "pod-reader"}}},
       {"subjects", {{{"kind", "ServiceAccount"}, {"name", "viewer"}, {"namespace", "default"}}}}});
  REQUIRE(binding);
  REQUIRE(binding->status == 201);
  auto token_request = admin->post("/api/v1/namespaces/default/serviceaccounts/viewer/token",
                                   {{"apiVersion", "authentication.k8s.io/v1"},
                                    {"kind", "TokenRequest"},
                                    {"spec", {{"expirationSeconds", 3600}}}});
  REQUIRE(token_request);
  INFO(token_request->error_message());
  REQUIRE(token_request->status == 201);
  const std::string token = token_request->json["status"]["token"];
  auto viewer_kubeconfig = plane->write_kubeconfig("viewer.kubeconfig", token);
  REQUIRE(viewer_kubeconfig);
  auto viewer = make_cluster(viewer_kubeconfig.value());

  auto forbidden = wait_for([&](WriteCallback done) {
    viewer->patch(rs, PatchType::kMerge, R"({"metadata":{"annotations":{"x":"y"}}})",
                  std::move(done));
  });
  REQUIRE_FALSE(forbidden);
  const std::string message = forbidden.status().message();
  CHECK(forbidden.status().code() == StatusCode::kPermissionDenied);
  CHECK(message.rfind("patch ReplicaSet default/web-a: HTTP 403 Forbidden: ", 0) == 0);
  CHECK(message.find("cannot patch resource \"replicasets\"") != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
  CHECK(message.find(token) == std::string::npos);

  // Reads follow RBAC too: the Pod informer syncs, the ReplicaSet informer stays unsynced and
  // says why.
  auto viewer_pods = informer_for(*viewer, ResourceKind::kPod);
  auto viewer_rs = informer_for(*viewer, ResourceKind::kReplicaSet);
  REQUIRE(poll_until([&] { return viewer_pods->is_fresh(); }, 20s));
  CHECK(names(viewer_pods->list()) == std::set<std::string>{"web-a-1", "web-a-2"});
  REQUIRE(poll_until([&] { return !viewer_rs->state().last_error.is_ok(); }, 20s));
  CHECK_FALSE(viewer_rs->has_synced());
  CHECK(viewer_rs->state().last_error.code() == StatusCode::kPermissionDenied);
  CHECK(viewer_rs->state().last_error.message().rfind(
            "list ReplicaSets in default: HTTP 403 Forbidden: ", 0) == 0);
}

TEST_CASE(
    "kube informers: kube-apiserver stopped for 10 s and started again: stale during the "
    "outage, then equal to a fresh list, changes after the restart seen, a too-old "
    "resourceVersion gets 410 and a relist",
    "[kube][informer][outage]") {
  auto plane = start_plane();
  auto admin = admin_client(*plane);
  seed_web(*admin);

  RestClusterOptions options;
  options.client.timeout = 2s;
  options.reflector.backoff.initial = 200ms;
  options.reflector.backoff.max = 1000ms;
  auto cluster = make_cluster(plane->kubeconfig(), options);
  const std::vector<std::shared_ptr<Informer>> informers = {
      informer_for(*cluster, ResourceKind::kReplicaSet), informer_for(*cluster, ResourceKind::kPod),
      informer_for(*cluster, ResourceKind::kService)};
  Recorder recorder;
  informers[1]->add_handlers(recorder.handlers());
  const auto all = [&](bool fresh) {
    for (const auto& informer : informers) {
      if (informer->is_fresh() != fresh) return false;
    }
    return true;
  };
  REQUIRE(poll_until([&] { return all(true); }, 20s));

  REQUIRE(plane->stop_apiserver());
  // The watches end with the apiserver's connections: every informer turns stale at once.
  REQUIRE(poll_until([&] { return all(false); }, 5s));
  const auto outage_end = std::chrono::steady_clock::now() + 10s;
  int samples = 0;
  while (std::chrono::steady_clock::now() < outage_end) {
    for (const auto& informer : informers) {
      REQUIRE_FALSE(informer->is_fresh());
      REQUIRE(informer->has_synced());  // the old copy stays readable, marked stale
    }
    ++samples;
    std::this_thread::sleep_for(250ms);
  }
  CHECK(samples > 30);
  CHECK(informers[1]->state().last_error.code() == StatusCode::kUnavailable);

  REQUIRE(plane->start_apiserver());
  const auto restarted = std::chrono::steady_clock::now();
  // Changes right after the restart, while the informers are still backing off or relisting.
  admin_create(*admin, ResourceKind::kPod, pod("web-a-3", "web", "a"));
  admin_merge_patch(*admin, ResourceKind::kPod, "web-a-1",
                    {{"metadata", {{"annotations", {{"sluice.dev/role", "stable"}}}}}});
  auto deleted = admin->request("DELETE", collection(ResourceKind::kPod) + "/web-a-2",
                                R"({"gracePeriodSeconds":0})", "application/json");
  REQUIRE(deleted);
  REQUIRE(deleted->status == 200);
  admin_merge_patch(*admin, ResourceKind::kService, "web-stable",
                    {{"spec", {{"selector", {{kHash, "a"}}}}}});
  admin_merge_patch(*admin, ResourceKind::kReplicaSet, "web-a",
                    {{"metadata", {{"annotations", {{"sluice.dev/version", "1.0.1"}}}}}});

  const std::vector<ResourceKind> kinds = {ResourceKind::kReplicaSet, ResourceKind::kPod,
                                           ResourceKind::kService};
  const bool recovered = poll_until(
      [&] {
        if (!all(true)) return false;
        for (size_t i = 0; i < kinds.size(); ++i) {
          if (cache_state(*informers[i]) != server_state(*admin, kinds[i])) return false;
        }
        return true;
      },
      30s);
  const auto recovery_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - restarted)
                               .count();
  REQUIRE(recovered);
  std::cout << "measured: informers fresh and equal to a list " << recovery_ms
            << " ms after kube-apiserver answered /readyz again\n";
  CHECK(names(informers[1]->list()) == std::set<std::string>{"web-a-1", "web-a-3"});
  CHECK(annotation(informers[1]->get("default", "web-a-1"), "sluice.dev/role") == "stable");
  CHECK(annotation(informers[0]->get("default", "web-a"), "sluice.dev/version") == "1.0.1");
  CHECK((*informers[2]->get("default", "web-stable"))["spec"]["selector"][kHash] == "a");
  for (const auto& informer : informers) {
    const auto state = informer->state();
    CHECK(state.lists >= 2);
    CHECK(state.watch_failures + state.relists_after_gone >= 1);
    CHECK(state.last_error.is_ok());
  }
  CHECK(recorder.has("stale"));
  CHECK(recorder.has("add web-a-3"));
  CHECK(recorder.has("delete web-a-2"));

  // 410 Gone: the restarted apiserver's watch cache begins at the revision it listed from etcd
  // when it started, so a watch from an older resourceVersion (one a client kept across the
  // restart; here 1) is refused with 410 Gone. (Before the restart, resourceVersion 1 would be
  // served: this apiserver's cache began when etcd was empty.) The informer stays unsynced until
  // the relist, which brings the server's objects.
  RestClusterOptions resume;
  resume.reflector.resume_resource_version = "1";
  auto resumed_cluster = make_cluster(plane->kubeconfig(), resume);
  auto resumed = informer_for(*resumed_cluster, ResourceKind::kPod);
  REQUIRE(poll_until([&] { return resumed->is_fresh(); }, 20s));
  CHECK(resumed->state().relists_after_gone == 1);
  CHECK(resumed->state().lists == 1);
  CHECK(cache_state(*resumed) == server_state(*admin, ResourceKind::kPod));
}
