// The mapping between revisions and Kubernetes objects (runtime/kubernetes_objects.h): the
// ReplicaSet a revision becomes, its pod-template hash, and the InstanceStatus a Pod becomes.
#include "runtime/kubernetes_objects.h"

#include <catch2/catch.hpp>

using nlohmann::json;
using namespace sluice::runtime::k8s;
using sluice::StatusCode;
using sluice::runtime::InstanceRole;

namespace {

json orders_template() {
  return json::parse(R"({
    "metadata": {"labels": {"app": "orders-api"}},
    "spec": {"containers": [{
      "name": "api", "image": "registry.example/orders-api:2.3.1",
      "ports": [{"name": "http", "containerPort": 8080}],
      "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}}}]}})");
}

KubeRevision orders_revision() {
  KubeRevision revision;
  revision.namespace_name = "shop";
  revision.rollout = "orders-api";
  revision.revision = 7;
  revision.commit = "0123abcd";
  revision.version = "2.3.1";
  revision.pod_template = orders_template();
  revision.role = InstanceRole::kCanary;
  return revision;
}

}  // namespace

TEST_CASE("kubernetes objects: the ReplicaSet carries the contract's name, labels and annotations",
          "[kubernetes]") {
  const KubeRevision revision = orders_revision();
  auto rs = replica_set_object(revision, 3);
  REQUIRE(rs.is_ok());
  const std::string hash = pod_template_hash(revision.pod_template, 7);
  const json& object = *rs;
  CHECK(object["apiVersion"] == "apps/v1");
  CHECK(object["kind"] == "ReplicaSet");
  CHECK(object["metadata"]["name"] == "orders-api-" + hash);
  CHECK(object["metadata"]["namespace"] == "shop");
  const json labels = {{"app.kubernetes.io/managed-by", "sluice"},
                       {"sluice.dev/rollout", "orders-api"},
                       {"sluice.dev/revision", "7"},
                       {"rollouts-pod-template-hash", hash}};
  CHECK(object["metadata"]["labels"] == labels);
  CHECK(object["metadata"]["annotations"] ==
        json{{"sluice.dev/commit", "0123abcd"}, {"sluice.dev/version", "2.3.1"}});
  CHECK(object["spec"]["replicas"] == 3);
  CHECK(object["spec"]["selector"] ==
        json{{"matchLabels",
              {{"sluice.dev/rollout", "orders-api"}, {"rollouts-pod-template-hash", hash}}}});
  // The Pods get the same labels, next to the template's own, and their role.
  json pod_labels = labels;
  pod_labels["app"] = "orders-api";
  CHECK(object["spec"]["template"]["metadata"]["labels"] == pod_labels);
  CHECK(object["spec"]["template"]["metadata"]["annotations"]["sluice.dev/role"] == "canary");
  // The containers pass through as written.
  CHECK(object["spec"]["template"]["spec"] == orders_template()["spec"]);
}

TEST_CASE("kubernetes objects: the pod-template hash is stable and follows the template",
          "[kubernetes]") {
  const json tpl = orders_template();
  const std::string hash = pod_template_hash(tpl, 7);
  // Fixed value: the same on every machine and after every restart. A change of the hash
  // function or of the canonical form would orphan every running ReplicaSet.
  CHECK(hash == pod_template_hash(json::parse(tpl.dump(2)), 7));
  // Computed independently: FNV-1a 32 of Python's json.dumps(sort_keys=True, separators=(",", ":"))
  // of {"podTemplate": ..., "revision": 7}, its decimal digits safe-encoded.
  CHECK(hash == "f4d6b6d");
  CHECK(hash.size() <= 10);
  CHECK(hash.find_first_not_of("bcdfghjklmnpqrstvwxz2456789") == std::string::npos);
  // Key order in the manifest does not matter; content and revision do.
  CHECK(pod_template_hash(json::parse(R"({"spec": {"containers": [{"image": "i", "name": "a"}]}})"),
                          1) ==
        pod_template_hash(json::parse(R"({"spec": {"containers": [{"name": "a", "image": "i"}]}})"),
                          1));
  json other_image = tpl;
  other_image["spec"]["containers"][0]["image"] = "registry.example/orders-api:2.3.2";
  CHECK(pod_template_hash(other_image, 7) != hash);
  CHECK(pod_template_hash(tpl, 8) != hash);
}

TEST_CASE("kubernetes objects: a template that cannot run on Kubernetes names the field",
          "[kubernetes]") {
  struct Case {
    const char* what;
    const char* pod_template;  // JSON, or "" for none
    const char* rollout;
    const char* field;  // the error message starts with it
  };
  const Case cases[] = {
      {"no template.kubernetes", "", "orders-api", "template.kubernetes:"},
      {"no containers", R"({"spec": {"containers": []}})", "orders-api",
       "template.kubernetes.spec.containers:"},
      {"no image", R"({"spec": {"containers": [{"name": "api"}]}})", "orders-api",
       "template.kubernetes.spec.containers[0].image: required"},
      {"second container without a name",
       R"({"spec": {"containers": [{"name": "a", "image": "i"}, {"image": "j"}]}})", "orders-api",
       "template.kubernetes.spec.containers[1].name: required"},
      {"a label Sluice sets",
       R"({"metadata": {"labels": {"rollouts-pod-template-hash": "x"}},
           "spec": {"containers": [{"name": "a", "image": "i"}]}})",
       "orders-api", "template.kubernetes.metadata.labels.rollouts-pod-template-hash:"},
      {"a rollout name Kubernetes refuses",
       R"({"spec": {"containers": [{"name": "a", "image": "i"}]}})", "Orders_API",
       "metadata.name:"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    KubeRevision revision = orders_revision();
    revision.rollout = c.rollout;
    revision.pod_template =
        std::string(c.pod_template).empty() ? json() : json::parse(c.pod_template);
    auto rs = replica_set_object(revision, 1);
    REQUIRE_FALSE(rs.is_ok());
    CHECK(rs.status().code() == StatusCode::kInvalidArgument);
    CHECK_THAT(rs.status().message(), Catch::StartsWith(c.field));
  }
}

TEST_CASE("kubernetes objects: only objects with Sluice's labels for the rollout are managed",
          "[kubernetes]") {
  auto rs = replica_set_object(orders_revision(), 1);
  REQUIRE(rs.is_ok());
  CHECK(managed_by_sluice(*rs, "orders-api"));
  CHECK_FALSE(managed_by_sluice(*rs, "payments"));
  json foreign = *rs;
  foreign["metadata"]["labels"].erase("app.kubernetes.io/managed-by");
  CHECK_FALSE(managed_by_sluice(foreign, "orders-api"));
  CHECK_FALSE(managed_by_sluice(json{{"metadata", {{"name", "orders-api-x"}}}}, "orders-api"));
}

namespace {

json pod(const std::string& status_json) {
  json object = json::parse(R"({
    "metadata": {"name": "orders-api-5c9d77b59b-x2x4k", "namespace": "shop",
                 "creationTimestamp": "2026-12-08T01:00:00Z",
                 "labels": {"app.kubernetes.io/managed-by": "sluice",
                            "sluice.dev/rollout": "orders-api", "sluice.dev/revision": "7",
                            "rollouts-pod-template-hash": "5c9d77b59b"},
                 "annotations": {"sluice.dev/role": "canary"}},
    "spec": {"containers": [{"name": "api", "image": "i",
                             "ports": [{"name": "http", "containerPort": 8080}]}]}})");
  object["status"] = json::parse(status_json);
  return object;
}

}  // namespace

TEST_CASE("kubernetes objects: a Pod becomes an InstanceStatus", "[kubernetes]") {
  SECTION("ready from the Ready condition") {
    auto observed = observe_pod(pod(R"({
      "podIP": "10.0.0.7", "startTime": "2026-12-08T01:00:01Z",
      "conditions": [{"type": "Ready", "status": "True",
                      "lastTransitionTime": "2026-12-08T01:00:05.250Z"}],
      "containerStatuses": [{"name": "api", "ready": true, "started": true, "restartCount": 0,
                             "state": {"running": {"startedAt": "2026-12-08T01:00:02Z"}}}]})"));
    REQUIRE(observed.is_ok());
    const auto& s = observed->status;
    CHECK(s.id == "orders-api-5c9d77b59b-x2x4k");
    CHECK(s.rollout == "orders-api");
    CHECK(s.revision == 7);
    CHECK(s.ready);
    CHECK(s.started);
    CHECK_FALSE(s.crash_loop);
    CHECK_FALSE(s.terminating);
    CHECK(s.restarts == 0);
    CHECK_FALSE(s.last_exit.has_value());
    CHECK(s.ports == std::map<std::string, int>{{"http", 8080}});
    CHECK(sluice::format_rfc3339(s.ready_since) == "2026-12-08T01:00:05.250Z");
    CHECK(sluice::format_rfc3339(s.started_at) == "2026-12-08T01:00:01.000Z");
    CHECK(s.creation_order == sluice::to_unix_ms(*parse_kube_time("2026-12-08T01:00:00Z")));
    CHECK(observed->pod_ip == "10.0.0.7");
    CHECK(observed->role == "canary");
  }
  SECTION("not ready: the condition is False even though the container runs") {
    auto observed = observe_pod(pod(R"({
      "conditions": [{"type": "Ready", "status": "False"}],
      "containerStatuses": [{"name": "api", "started": true, "restartCount": 0,
                             "state": {"running": {}}}]})"));
    REQUIRE(observed.is_ok());
    CHECK_FALSE(observed->status.ready);
    CHECK(observed->status.started);
  }
  SECTION("CrashLoopBackOff with the last exit code and reason") {
    auto observed = observe_pod(pod(R"({
      "conditions": [{"type": "Ready", "status": "False"}],
      "containerStatuses": [{"name": "api", "started": false, "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff",
                              "message": "back-off 40s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": 3, "reason": "Error",
                                     "finishedAt": "2026-12-08T01:02:00Z"}}}]})"));
    REQUIRE(observed.is_ok());
    const auto& s = observed->status;
    CHECK(s.crash_loop);
    CHECK(s.restarts == 4);
    CHECK_FALSE(s.ready);
    CHECK_FALSE(s.started);
    REQUIRE(s.last_exit.has_value());
    CHECK(s.last_exit->exit_code == 3);
    CHECK(s.last_exit->description == "exited with code 3 (Error)");
    CHECK(sluice::format_rfc3339(s.last_exit->at) == "2026-12-08T01:02:00.000Z");
    CHECK(s.last_error ==
          "container api: CrashLoopBackOff: back-off 40s restarting failed container");
  }
  SECTION("the current termination reason wins over the last one") {
    auto observed = observe_pod(pod(R"({
      "containerStatuses": [{"name": "api", "restartCount": 1,
        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]})"));
    REQUIRE(observed.is_ok());
    REQUIRE(observed->status.last_exit.has_value());
    CHECK(observed->status.last_exit->exit_code == 137);
    CHECK(observed->status.last_exit->description == "exited with code 137 (OOMKilled)");
    CHECK_FALSE(observed->status.crash_loop);
  }
  SECTION("restarts add up over containers; terminating from deletionTimestamp") {
    json object = pod(R"({
      "conditions": [{"type": "Ready", "status": "True"}],
      "containerStatuses": [{"name": "api", "started": true, "restartCount": 2, "state": {"running": {}}},
                            {"name": "sidecar", "started": true, "restartCount": 1, "state": {"running": {}}}]})");
    object["metadata"]["deletionTimestamp"] = "2026-12-08T01:03:00Z";
    auto observed = observe_pod(object);
    REQUIRE(observed.is_ok());
    CHECK(observed->status.restarts == 3);
    CHECK(observed->status.terminating);
  }
  SECTION("a Pod without containerStatuses yet (pending) has not started") {
    auto observed = observe_pod(pod(R"({"phase": "Pending"})"));
    REQUIRE(observed.is_ok());
    CHECK_FALSE(observed->status.started);
    CHECK_FALSE(observed->status.ready);
  }
}

TEST_CASE("kubernetes objects: a Pod without Sluice's labels is an error naming it and the label",
          "[kubernetes]") {
  json no_rollout = pod("{}");
  no_rollout["metadata"]["labels"].erase("sluice.dev/rollout");
  auto a = observe_pod(no_rollout);
  REQUIRE_FALSE(a.is_ok());
  CHECK(a.status().message() ==
        "Pod shop/orders-api-5c9d77b59b-x2x4k: metadata.labels.sluice.dev/rollout is missing");
  json bad_revision = pod("{}");
  bad_revision["metadata"]["labels"]["sluice.dev/revision"] = "7a";
  auto b = observe_pod(bad_revision);
  REQUIRE_FALSE(b.is_ok());
  CHECK_THAT(b.status().message(),
             Catch::Contains("sluice.dev/revision: \"7a\" is not a revision"));
}

TEST_CASE("kubernetes objects: Kubernetes timestamps", "[kubernetes]") {
  CHECK(sluice::to_unix_ms(*parse_kube_time("1970-01-01T00:00:01Z")) == 1000);
  CHECK(sluice::to_unix_ms(*parse_kube_time("1970-01-01T00:00:01.5Z")) == 1500);
  CHECK(sluice::to_unix_ms(*parse_kube_time("1970-01-01T00:00:01.123456Z")) == 1123);
  CHECK_FALSE(parse_kube_time("").has_value());
  CHECK_FALSE(parse_kube_time("1970-01-01T00:00:01+02:00").has_value());
  CHECK_FALSE(parse_kube_time("1970-01-01 00:00:01Z").has_value());
}
