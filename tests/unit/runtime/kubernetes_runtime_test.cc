// KubernetesRuntime against an in-memory Cluster (tests/support/fakes/fake_cluster.h): which
// objects it writes, what it reads from the informers, and what it refuses to touch. The same
// runtime against a real kube-apiserver is in tests/integration/.
#include "runtime/kubernetes_runtime.h"

#include <catch2/catch.hpp>

#include "runtime/kubernetes_objects.h"
#include "tests/support/fakes/fake_cluster.h"
#include "tests/support/fakes/kube_revisions.h"
#include "tests/support/http_receiver/http_receiver.h"

using nlohmann::json;
using sluice::SimulatedClock;
using sluice::fakes::FakeCluster;
using sluice::kube::ObjectRef;
using sluice::kube::ResourceKind;
using namespace sluice::runtime;

namespace {

json web_template(const std::string& image = "registry.example/web:1") {
  return sluice::fakes::web_pod_template(image);
}

struct Harness {
  SimulatedClock clock;
  boost::asio::io_context io;
  FakeCluster cluster{clock};
  // The template.kubernetes of each revision (what the manifest would carry).
  std::map<int64_t, json> templates{{1, web_template()},
                                    {2, web_template("registry.example/web:2")}};
  std::unique_ptr<KubernetesRuntime> runtime;
  std::vector<std::string> notified;

  void start() {
    KubernetesRuntimeOptions options;
    options.namespace_name = "shop";
    options.pod_template = [this](const RevisionSpec& spec) -> sluice::Result<json> {
      auto it = templates.find(spec.revision);
      if (it == templates.end()) return sluice::invalid_argument("template.kubernetes: required");
      return it->second;
    };
    auto created = KubernetesRuntime::create(io, cluster, options);
    REQUIRE(created.is_ok());
    runtime = std::move(*created);
    runtime->set_listener([this](const std::string& rollout) { notified.push_back(rollout); });
  }

  RevisionSpec revision(int64_t number) const { return sluice::fakes::web_revision(number); }

  std::string rs_name(int64_t number) const {
    return "web-" + k8s::pod_template_hash(templates.at(number), number);
  }
  ObjectRef rs_ref(int64_t number) const {
    return {ResourceKind::kReplicaSet, "shop", rs_name(number)};
  }

  // A Pod as the ReplicaSet controller would create it from the ReplicaSet's template, with the
  // kubelet's status.
  json pod_of(int64_t number, const std::string& name, bool ready) const {
    auto rs = cluster.get(rs_ref(number));
    REQUIRE(rs.has_value());
    json pod = {{"metadata", (*rs)["spec"]["template"]["metadata"]},
                {"spec", (*rs)["spec"]["template"]["spec"]}};
    pod["metadata"]["name"] = name;
    pod["metadata"]["namespace"] = "shop";
    pod["metadata"]["creationTimestamp"] = "2026-12-08T01:00:00Z";
    pod["status"] = {{"podIP", "10.1.0.9"},
                     {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}},
                     {"containerStatuses",
                      {{{"name", "web"},
                        {"started", true},
                        {"restartCount", 0},
                        {"state", {{"running", json::object()}}}}}}};
    return pod;
  }
};

}  // namespace

TEST_CASE("kubernetes runtime: scale creates the revision's ReplicaSet, then patches its replicas",
          "[kubernetes]") {
  Harness h;
  h.start();
  h.runtime->scale(h.revision(1), 2);
  CHECK(h.cluster.run_writes() == 1);
  auto rs = h.cluster.get(h.rs_ref(1));
  REQUIRE(rs.has_value());
  CHECK((*rs)["spec"]["replicas"] == 2);
  CHECK((*rs)["metadata"]["labels"]["sluice.dev/revision"] == "1");
  CHECK((*rs)["metadata"]["annotations"]["sluice.dev/commit"] == "c1");
  CHECK((*rs)["metadata"]["annotations"]["sluice.dev/version"] == "1.0");

  // Idempotent: the cache already has 2 replicas, nothing is written.
  h.runtime->scale(h.revision(1), 2);
  CHECK(h.cluster.pending_writes() == 0);

  h.runtime->scale(h.revision(1), 5);
  h.runtime->scale(h.revision(2), 1);
  CHECK(h.cluster.run_writes() == 2);
  CHECK(h.cluster.get(h.rs_ref(1)).value()["spec"]["replicas"] == 5);
  CHECK(h.cluster.get(h.rs_ref(2)).value()["spec"]["replicas"] == 1);
  CHECK(h.cluster.write_log() ==
        std::vector<std::string>{"create ReplicaSet shop/" + h.rs_name(1),
                                 "update ReplicaSet shop/" + h.rs_name(1),
                                 "create ReplicaSet shop/" + h.rs_name(2)});
  CHECK(h.runtime->problems().empty());
  CHECK(h.runtime->rollouts() == std::vector<std::string>{"web"});
}

TEST_CASE("kubernetes runtime: a ReplicaSet of a previous run is adopted, not created again",
          "[kubernetes]") {
  Harness h;
  h.start();
  h.runtime->scale(h.revision(1), 3);
  h.cluster.run_writes();
  const json before = h.cluster.get(h.rs_ref(1)).value();
  h.runtime.reset();  // Sluice restarts; the cluster keeps the ReplicaSet

  h.start();
  const size_t writes_before = h.cluster.write_log().size();
  h.runtime->scale(h.revision(1), 1);
  h.cluster.run_writes();
  const auto log = h.cluster.write_log();
  CHECK(std::vector<std::string>(log.begin() + static_cast<std::ptrdiff_t>(writes_before),
                                 log.end()) ==
        std::vector<std::string>{"update ReplicaSet shop/" + h.rs_name(1)});
  const json after = h.cluster.get(h.rs_ref(1)).value();
  CHECK(after["spec"]["replicas"] == 1);
  CHECK(after["metadata"]["labels"] == before["metadata"]["labels"]);
  CHECK(h.runtime->problems().empty());
}

TEST_CASE("kubernetes runtime: an object with the ReplicaSet's name but not Sluice's is left alone",
          "[kubernetes]") {
  Harness h;
  // Someone else's ReplicaSet, with exactly the name revision 1 would use.
  h.cluster.put(
      ResourceKind::kReplicaSet,
      {{"metadata", {{"name", h.rs_name(1)}, {"namespace", "shop"}, {"labels", {{"app", "web"}}}}},
       {"spec", {{"replicas", 7}}}});
  h.start();
  h.runtime->scale(h.revision(1), 2);
  h.cluster.run_writes();
  CHECK(h.cluster.get(h.rs_ref(1)).value()["spec"]["replicas"] == 7);
  const auto problems = h.runtime->problems();
  REQUIRE(problems.count("web") == 1);
  CHECK_THAT(problems.at("web"),
             Catch::Contains("ReplicaSet shop/" + h.rs_name(1) +
                             " exists without the labels app.kubernetes.io/managed-by=sluice and "
                             "sluice.dev/rollout=web; Sluice leaves it alone"));
  CHECK(h.runtime->observe("web").empty());
  CHECK(h.runtime->rollouts().empty());
}

TEST_CASE("kubernetes runtime: a template that cannot run is a problem naming the field, no write",
          "[kubernetes]") {
  Harness h;
  h.templates[3] = {{"spec", {{"containers", {{{"name", "web"}}}}}}};
  h.start();
  h.runtime->scale(h.revision(3), 1);
  CHECK(h.cluster.pending_writes() == 0);
  REQUIRE(h.runtime->problems().count("web") == 1);
  CHECK(h.runtime->problems().at("web") ==
        "scale web revision 3 to 1: template.kubernetes.spec.containers[0].image: required");
  CHECK(h.notified == std::vector<std::string>{"web"});

  // The next good scale clears it.
  h.runtime->scale(h.revision(1), 1);
  h.cluster.run_writes();
  CHECK(h.runtime->problems().empty());
}

TEST_CASE("kubernetes runtime: a refused write is a problem naming the object", "[kubernetes]") {
  Harness h;
  h.start();
  h.runtime->scale(h.revision(1), 1);
  h.cluster.fail_next_write(sluice::Status(
      sluice::StatusCode::kPermissionDenied,
      "create ReplicaSet shop/x: HTTP 403 Forbidden: replicasets.apps is forbidden"));
  h.cluster.run_writes();
  REQUIRE(h.runtime->problems().count("web") == 1);
  CHECK_THAT(h.runtime->problems().at("web"), Catch::Contains("HTTP 403 Forbidden"));
  CHECK_FALSE(h.cluster.get(h.rs_ref(1)).has_value());
}

TEST_CASE("kubernetes runtime: observe reads the Pods from the informer, never the API",
          "[kubernetes]") {
  Harness h;
  h.start();
  h.runtime->scale(h.revision(1), 2);
  h.cluster.run_writes();
  h.notified.clear();
  h.cluster.put(ResourceKind::kPod, h.pod_of(1, "web-a", true));
  h.cluster.put(ResourceKind::kPod, h.pod_of(1, "web-b", false));
  // Not Sluice's: no managed-by label (the informer does not even select it).
  json foreign = h.pod_of(1, "web-x", true);
  foreign["metadata"]["labels"].erase("app.kubernetes.io/managed-by");
  h.cluster.put(ResourceKind::kPod, foreign);
  CHECK(h.notified == std::vector<std::string>{"web", "web"});

  const auto writes_before = h.cluster.write_log().size();
  auto instances = h.runtime->observe("web");
  REQUIRE(instances.size() == 2);
  CHECK(instances[0].id == "web-a");
  CHECK(instances[0].ready);
  CHECK(instances[0].revision == 1);
  CHECK(instances[0].ports.at("http") == 8080);
  CHECK(instances[1].id == "web-b");
  CHECK_FALSE(instances[1].ready);
  CHECK(h.runtime->observe("other").empty());
  CHECK(h.cluster.pending_writes() == 0);
  CHECK(h.cluster.write_log().size() == writes_before);
  CHECK(h.runtime->is_fresh());

  // A Pod goes away: the listener hears of it and observe no longer shows it.
  h.cluster.erase({ResourceKind::kPod, "shop", "web-b"});
  CHECK(h.notified.back() == "web");
  CHECK(h.runtime->observe("web").size() == 1);

  // A broken watch makes the runtime stale until the next complete list.
  h.cluster.break_watches(sluice::unavailable("watch cut"));
  CHECK_FALSE(h.runtime->is_fresh());
  h.cluster.sync_informers();
  CHECK(h.runtime->is_fresh());
}

TEST_CASE("kubernetes runtime: set_role annotates the revision's Pods and its Pod template",
          "[kubernetes]") {
  Harness h;
  h.start();
  h.runtime->scale(h.revision(1), 2);
  h.runtime->scale(h.revision(2), 1);
  h.cluster.run_writes();
  h.cluster.put(ResourceKind::kPod, h.pod_of(1, "web-1a", true));
  h.cluster.put(ResourceKind::kPod, h.pod_of(1, "web-1b", true));
  h.cluster.put(ResourceKind::kPod, h.pod_of(2, "web-2a", true));
  const auto role = [&](const std::string& pod) {
    return h.cluster.get({ResourceKind::kPod, "shop", pod})
        .value()["metadata"]["annotations"]["sluice.dev/role"];
  };
  CHECK(role("web-1a") == "canary");

  h.runtime->set_role("web", 1, InstanceRole::kStable);
  CHECK(h.cluster.run_writes() == 3);  // the ReplicaSet's template and two Pods
  CHECK(role("web-1a") == "stable");
  CHECK(role("web-1b") == "stable");
  CHECK(role("web-2a") == "canary");
  CHECK(h.cluster.get(h.rs_ref(1))
            .value()["spec"]["template"]["metadata"]["annotations"]["sluice.dev/role"] == "stable");

  // Already current: nothing to write.
  h.runtime->set_role("web", 1, InstanceRole::kStable);
  CHECK(h.cluster.pending_writes() == 0);

  // A Pod created from an old template (a race with the ReplicaSet controller) is corrected.
  json late = h.pod_of(1, "web-1c", true);
  late["metadata"]["annotations"]["sluice.dev/role"] = "canary";
  h.cluster.put(ResourceKind::kPod, late);
  CHECK(h.cluster.run_writes() == 1);
  CHECK(role("web-1c") == "stable");
}

TEST_CASE("kubernetes runtime: run_hook POSTs to each Pod's IP on the named port", "[kubernetes]") {
  sluice::testing::HttpReceiver pod_server;  // plays the Pods' containers, on 127.0.0.1
  Harness h;
  h.start();
  RevisionSpec with_hook = h.revision(1);
  sluice::manifests::LifecycleHandler activate;
  activate.http_post = sluice::manifests::HttpGetAction{};
  activate.http_post->path = "/admin/activate";
  activate.http_post->port = std::string("http");
  activate.timeout = std::chrono::milliseconds(5000);
  with_hook.pod.lifecycle.activate = activate;
  h.runtime->scale(with_hook, 3);
  h.cluster.run_writes();
  for (const char* name : {"web-a", "web-b", "web-c"}) {
    json pod = h.pod_of(1, name, true);
    pod["status"]["podIP"] = "127.0.0.1";
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = pod_server.port();
    if (std::string(name) == "web-b") pod["metadata"]["deletionTimestamp"] = "2026-12-08T01:00:09Z";
    if (std::string(name) == "web-c") {
      pod["spec"]["containers"][0]["ports"][0]["containerPort"] = 1;  // nothing listens
    }
    h.cluster.put(ResourceKind::kPod, pod);
  }

  std::optional<std::vector<HookResult>> activated, deactivated;
  h.runtime->run_hook("web", 1, HookKind::kActivate, [&](auto r) { activated = r; });
  h.runtime->run_hook("web", 1, HookKind::kDeactivate, [&](auto r) { deactivated = r; });
  CHECK_FALSE(activated.has_value());  // never inline
  h.io.run();
  REQUIRE(activated.has_value());
  REQUIRE(activated->size() == 2);  // web-b is being deleted
  CHECK((*activated)[0].instance_id == "web-a");
  CHECK((*activated)[0].ok);
  CHECK_THAT((*activated)[0].message, Catch::StartsWith("HTTP 200"));
  CHECK((*activated)[1].instance_id == "web-c");
  CHECK_FALSE((*activated)[1].ok);
  REQUIRE(deactivated.has_value());
  CHECK(deactivated->empty());  // no such hook
  const auto seen = pod_server.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].target == "/admin/activate");
}
