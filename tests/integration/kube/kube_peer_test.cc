// The Kubernetes test peer is real: a Deployment applied to the real kube-apiserver gets a
// ReplicaSet and Pods from the real kube-controller-manager, the kubelet stand-in makes them
// Ready, the endpointslice controller publishes their IPs, and a wrong token gets 401.
// A missing peer fails these tests with the `make peers` line; it never skips them.
#include <catch2/catch.hpp>

#include <set>

#include <nlohmann/json.hpp>

#include "kube/kubeconfig.h"
#include "kube/rest_client.h"
#include "tests/support/paths/paths.h"
#include "tests/support/peers/kube_control_plane.h"
#include "tests/support/peers/kubelet_standin.h"
#include "tests/support/process/test_process.h"

using nlohmann::json;
using sluice::testing::KubeControlPlane;
using sluice::testing::KubeletOptions;
using sluice::testing::KubeletStandIn;
using sluice::testing::PodBehavior;
using sluice::testing::poll_until;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<KubeControlPlane> start_plane() {
  auto plane = KubeControlPlane::start();
  INFO((plane ? std::string() : plane.status().message()));
  REQUIRE(plane);
  return std::move(plane).value();
}

std::unique_ptr<sluice::kube::RestClient> admin_client(const KubeControlPlane& plane) {
  auto config = sluice::kube::load_kubeconfig(plane.kubeconfig());
  INFO((config ? std::string() : config.status().message()));
  REQUIRE(config);
  auto client = sluice::kube::RestClient::create(config.value());
  REQUIRE(client);
  return std::move(client).value();
}

json get_json(sluice::kube::RestClient& client, const std::string& path) {
  auto r = client.get(path);
  INFO(path << ": " << (r ? r.value().error_message() : r.status().message()));
  REQUIRE(r);
  REQUIRE(r.value().status == 200);
  return r.value().json;
}

const char* kDeployment = R"(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.example/web:1.0.0
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
)";

}  // namespace

TEST_CASE("kube peer: a Deployment gets a ReplicaSet, Ready Pods and an EndpointSlice",
          "[kube][peers]") {
  auto plane = start_plane();
  auto client = admin_client(*plane);

  // /version answers with the pinned release (the -X ldflags of scripts/peers).
  CHECK(get_json(*client, "/version")["gitVersion"] == "v1.37.2");

  // The endpointslice controller refuses loopback addresses, so these Pods get TEST-NET-1 IPs,
  // which nothing connects to (kubelet_standin.h).
  KubeletOptions options;
  options.pod_network = KubeletOptions::PodNetwork::kDocumentation;
  options.log_dir = plane->dir();
  auto node = KubeletStandIn::start(plane->kubeconfig(), options);
  INFO((node ? std::string() : node.status().message()));
  REQUIRE(node);
  node.value()->set_behavior([](const json&) {
    PodBehavior b;
    b.ready_after = 300ms;
    return b;
  });

  // The Node is registered and Ready.
  json nodes = get_json(*client, "/api/v1/nodes");
  REQUIRE(nodes["items"].size() == 1);
  bool node_ready = false;
  for (const json& c : nodes["items"][0]["status"]["conditions"]) {
    node_ready = node_ready || (c["type"] == "Ready" && c["status"] == "True");
  }
  CHECK(node_ready);

  auto applied = plane->kubectl({"apply", "-f", "-"}, kDeployment);
  INFO((applied ? applied.value() : applied.status().message()));
  REQUIRE(applied);

  // The deployment controller makes a ReplicaSet owned by the Deployment.
  json rs;
  REQUIRE(poll_until(
      [&] {
        rs = get_json(*client, "/apis/apps/v1/namespaces/default/replicasets");
        return rs["items"].size() == 1;
      },
      30s));
  const json& replicaset = rs["items"][0];
  CHECK(replicaset["metadata"]["ownerReferences"][0]["kind"] == "Deployment");
  CHECK(replicaset["metadata"]["ownerReferences"][0]["name"] == "web");
  CHECK(replicaset["spec"]["replicas"] == 3);

  // The replicaset controller makes 3 Pods; the stand-in binds them and makes them Ready; the
  // deployment controller sees them available.
  json deployment;
  bool available = poll_until(
      [&] {
        deployment = get_json(*client, "/apis/apps/v1/namespaces/default/deployments/web");
        return deployment["status"].value("readyReplicas", 0) == 3 &&
               deployment["status"].value("availableReplicas", 0) == 3;
      },
      60s);
  INFO(deployment["status"].dump() << " stand-in: " << node.value()->last_error());
  REQUIRE(available);

  json pods = get_json(*client, "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb");
  REQUIRE(pods["items"].size() == 3);
  std::set<std::string> pod_ips;
  for (const json& pod : pods["items"]) {
    CHECK(pod["spec"]["nodeName"] == "sluice-test-node");
    CHECK(pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet");
    CHECK(pod["status"]["phase"] == "Running");
    CHECK(pod["status"]["containerStatuses"][0]["ready"] == true);
    pod_ips.insert(pod["status"]["podIP"].get<std::string>());
  }
  REQUIRE(pod_ips.size() == 3);

  // The endpointslice controller lists exactly those IPs, ready, for the Service.
  std::set<std::string> slice_ips;
  bool listed = poll_until(
      [&] {
        json slices = get_json(
            *client,
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector="
            "kubernetes.io%2Fservice-name%3Dweb");
        slice_ips.clear();
        for (const json& slice : slices["items"]) {
          for (const json& e : slice.value("endpoints", json::array())) {
            if (e["conditions"].value("ready", false)) {
              slice_ips.insert(e["addresses"][0].get<std::string>());
            }
          }
        }
        return slice_ips == pod_ips;
      },
      30s);
  CHECK(listed);

  // Scaling down: the stand-in finishes the graceful deletions and the Pods go away.
  REQUIRE(plane->kubectl({"scale", "deployment/web", "--replicas=1"}));
  CHECK(poll_until(
      [&] {
        return get_json(*client, "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")["items"]
                   .size() == 1;
      },
      30s));
  CHECK(node.value()->pods_deleted() == 2);
}

TEST_CASE("kube peer: a wrong token gets 401 and the admin token is authorized",
          "[kube][peers]") {
  auto plane = start_plane();
  auto wrong = plane->write_kubeconfig("wrong.kubeconfig", "not-the-token");
  REQUIRE(wrong);
  auto config = sluice::kube::load_kubeconfig(wrong.value());
  REQUIRE(config);
  auto client = sluice::kube::RestClient::create(config.value());
  REQUIRE(client);
  auto denied = client.value()->get("/api/v1/namespaces/default/pods");
  REQUIRE(denied);
  CHECK(denied.value().status == 401);
  auto admin = admin_client(*plane);
  auto allowed = admin->get("/api/v1/namespaces/default/pods");
  REQUIRE(allowed);
  CHECK(allowed.value().status == 200);
  // kubectl, the real client, agrees.
  auto kubectl = plane->kubectl({"get", "namespaces", "-o", "name"});
  REQUIRE(kubectl);
  CHECK(kubectl.value().find("namespace/default") != std::string::npos);
}

TEST_CASE("kube peer: the stand-in plays crash loops, never-ready Pods and real processes",
          "[kube][peers]") {
  auto plane = start_plane();
  auto client = admin_client(*plane);
  KubeletOptions options;
  options.log_dir = plane->dir();
  auto node = KubeletStandIn::start(plane->kubeconfig(), options);
  REQUIRE(node);
  node.value()->set_behavior([](const json& pod) {
    PodBehavior b;
    const std::string name = pod["metadata"]["name"];
    if (name == "crasher") {
      b.kind = PodBehavior::Kind::kCrashLoop;
      b.exit_code = 42;
      b.restart_every = 300ms;
    } else if (name == "stuck") {
      b.kind = PodBehavior::Kind::kNeverReady;
    } else if (name == "server") {
      b.kind = PodBehavior::Kind::kRunCommand;
    }
    return b;
  });
  const std::string testsvc = sluice::test::bin_dir() + "/sluice-testsvc";
  const std::string pods = R"yaml(
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: default}
spec: {containers: [{name: app, image: registry.example/crasher:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: stuck, namespace: default}
spec: {containers: [{name: app, image: registry.example/stuck:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: default}
spec:
  containers:
    - name: app
      image: registry.example/testsvc:1
      command: [")yaml" + testsvc + R"yaml(", "--port", "$(PORT)", "--ready-after-ms", "300"]
      env:
        - {name: PORT, value: "8080"}
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
      ports: [{name: http, containerPort: 8080}]
      readinessProbe: {httpGet: {path: /ready, port: http}}
)yaml";
  auto applied = plane->kubectl({"apply", "-f", "-"}, pods);
  INFO((applied ? applied.value() : applied.status().message()));
  REQUIRE(applied);

  // The crash loop: restartCount rises, the state is CrashLoopBackOff and the last exit is 42.
  json crasher;
  REQUIRE(poll_until(
      [&] {
        crasher = get_json(*client, "/api/v1/namespaces/default/pods/crasher");
        const json& s = crasher["status"];
        return s.contains("containerStatuses") &&
               s["containerStatuses"][0].value("restartCount", 0) >= 2;
      },
      30s));
  const json& cs = crasher["status"]["containerStatuses"][0];
  CHECK(cs["ready"] == false);
  CHECK(cs["state"]["waiting"]["reason"] == "CrashLoopBackOff");
  CHECK(cs["lastState"]["terminated"]["exitCode"] == 42);

  // The real process listens on its Pod IP (a 127.x address) and turns Ready via its probe.
  json server;
  REQUIRE(poll_until(
      [&] {
        server = get_json(*client, "/api/v1/namespaces/default/pods/server");
        return server["status"].contains("containerStatuses") &&
               server["status"]["containerStatuses"][0]["ready"] == true;
      },
      30s));
  const std::string ip = server["status"]["podIP"];
  CHECK(ip.rfind("127.1.", 0) == 0);
  CHECK(ip == node.value()->pod_ip("default", "server"));

  // Never ready: after all that time it still is not.
  json stuck = get_json(*client, "/api/v1/namespaces/default/pods/stuck");
  CHECK(stuck["status"]["phase"] == "Running");
  CHECK(stuck["status"]["containerStatuses"][0]["ready"] == false);
  bool ready_condition = true;
  for (const json& c : stuck["status"]["conditions"]) {
    if (c["type"] == "Ready") ready_condition = c["status"] == "True";
  }
  CHECK_FALSE(ready_condition);

  // Deleting the server Pod stops its process (graceful deletion finished by the stand-in).
  REQUIRE(plane->kubectl({"delete", "pod", "server", "--wait=true", "--timeout=30s"}));
  CHECK(node.value()->pods_deleted() >= 1);
}

TEST_CASE("kube peer: a missing peer fails with the make peers line", "[kube][peers]") {
  sluice::testing::TempDir empty;
  const char* old = std::getenv("SLUICE_PEERS_DIR");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("SLUICE_PEERS_DIR", empty.path().c_str(), 1);
  auto plane = KubeControlPlane::start();
  if (old != nullptr) {
    ::setenv("SLUICE_PEERS_DIR", saved.c_str(), 1);
  } else {
    ::unsetenv("SLUICE_PEERS_DIR");
  }
  REQUIRE_FALSE(plane);
  CHECK(plane.status().message().find("run `make peers`") != std::string::npos);
  CHECK(plane.status().message().find("bin/etcd") != std::string::npos);
}
