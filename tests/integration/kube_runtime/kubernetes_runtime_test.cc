// KubernetesRuntime against a real kube-apiserver + etcd + kube-controller-manager, with the
// kubelet stand-in playing the node: the runtime's ReplicaSet is accepted by the apiserver, the
// real replicaset controller makes its Pods, and what the stand-in reports (Ready, a crash loop
// with its exit code) comes back through the runtime's Pod informer as InstanceStatus, and
// set_role's annotation reaches every Pod on the apiserver.
// A missing peer fails this test with the `make peers` line; it never skips it.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "kube/kubeconfig.h"
#include "kube/rest_cluster.h"
#include "runtime/kubernetes_runtime.h"
#include "tests/support/fakes/kube_revisions.h"
#include "tests/support/peers/kube_control_plane.h"
#include "tests/support/peers/kubelet_standin.h"
#include "tests/support/process/test_process.h"

using nlohmann::json;
using sluice::SystemClock;
using sluice::testing::KubeControlPlane;
using sluice::testing::KubeletStandIn;
using sluice::testing::PodBehavior;
using sluice::testing::poll_until;
using namespace sluice::runtime;
using namespace std::chrono_literals;

namespace {

std::string describe(const std::vector<InstanceStatus>& instances) {
  std::string out;
  for (const InstanceStatus& i : instances) {
    out += i.id + " r" + std::to_string(i.revision) + (i.ready ? " ready" : " unready") +
           (i.crash_loop ? " crash-loop" : "") + " restarts=" + std::to_string(i.restarts) +
           (i.last_exit ? " last=" + i.last_exit->description : "") + "; ";
  }
  return out;
}

}  // namespace

TEST_CASE(
    "kubernetes runtime: a revision scaled to 2 on a real control plane shows 2 ready "
    "instances, a crash-looping one its exit",
    "[kubernetes]") {
  auto plane = KubeControlPlane::start();
  INFO((plane ? std::string() : plane.status().message()));
  REQUIRE(plane);
  auto node = KubeletStandIn::start(plane.value()->kubeconfig());
  INFO((node ? std::string() : node.status().message()));
  REQUIRE(node);
  // Revision 1 becomes ready; revision 2's container exits with 3 again and again.
  node.value()->set_behavior([](const json& pod) {
    PodBehavior behavior;
    behavior.ready_after = 200ms;
    // The stand-in shows the Pod's name and spec only: revision 2 is told by its image.
    if (pod.value("/spec/containers/0/image"_json_pointer, std::string()) ==
        "registry.example/web:2") {
      behavior.kind = PodBehavior::Kind::kCrashLoop;
      behavior.exit_code = 3;
      behavior.restart_every = 300ms;
    }
    return behavior;
  });

  auto config = sluice::kube::load_kubeconfig(plane.value()->kubeconfig());
  REQUIRE(config);
  auto cluster = sluice::kube::RestCluster::create(config.value(), {}, SystemClock::instance());
  INFO((cluster ? std::string() : cluster.status().message()));
  REQUIRE(cluster);

  boost::asio::io_context io;
  KubernetesRuntimeOptions options;
  options.namespace_name = "default";
  options.pod_template = [](const RevisionSpec& spec) -> sluice::Result<json> {
    return sluice::fakes::web_pod_template("registry.example/web:" + std::to_string(spec.revision));
  };
  auto runtime = KubernetesRuntime::create(io, *cluster.value(), options);
  INFO((runtime ? std::string() : runtime.status().message()));
  REQUIRE(runtime);
  KubernetesRuntime& k8s_runtime = *runtime.value();

  k8s_runtime.scale(sluice::fakes::web_revision(1), 2);
  std::vector<InstanceStatus> instances;
  const bool two_ready = poll_until(
      [&] {
        instances = k8s_runtime.observe("web");
        int ready = 0;
        for (const InstanceStatus& i : instances) ready += i.ready && i.revision == 1 ? 1 : 0;
        return ready == 2;
      },
      60s);
  INFO("instances: " << describe(instances));
  INFO("problems: " << (k8s_runtime.problems().empty() ? ""
                                                       : k8s_runtime.problems().begin()->second));
  INFO("kubelet: " << node.value()->last_error());
  REQUIRE(two_ready);
  CHECK(instances.size() == 2);
  CHECK(k8s_runtime.is_fresh());
  CHECK(k8s_runtime.rollouts() == std::vector<std::string>{"web"});
  for (const InstanceStatus& i : instances) {
    CHECK(i.started);
    CHECK(i.ports.at("http") == 8080);
    CHECK_FALSE(i.crash_loop);
  }

  // set_role: every Pod of revision 1 gets sluice.dev/role=stable on the apiserver, as the
  // runtime's own Pod informer (the cluster shares it) then shows.
  k8s_runtime.set_role("web", 1, InstanceRole::kStable);
  sluice::kube::InformerSpec pods_spec;
  pods_spec.kind = sluice::kube::ResourceKind::kPod;
  pods_spec.namespace_name = "default";
  pods_spec.label_selector = "app.kubernetes.io/managed-by=sluice";
  pods_spec.index_labels = {"sluice.dev/rollout"};
  auto pods = cluster.value()->informer(pods_spec);
  REQUIRE(pods);
  const bool stable = poll_until(
      [&] {
        int annotated = 0;
        for (const auto& pod : pods.value()->by_label("sluice.dev/rollout", "web")) {
          annotated += pod->value("/metadata/annotations/sluice.dev~1role"_json_pointer,
                                  std::string()) == "stable"
                           ? 1
                           : 0;
        }
        return annotated == 2;
      },
      30s);
  INFO("problems: " << (k8s_runtime.problems().empty() ? ""
                                                       : k8s_runtime.problems().begin()->second));
  CHECK(stable);

  k8s_runtime.scale(sluice::fakes::web_revision(2), 1);
  const bool crash_loop = poll_until(
      [&] {
        instances = k8s_runtime.observe("web");
        for (const InstanceStatus& i : instances) {
          if (i.revision == 2 && i.crash_loop && i.restarts >= 1 && i.last_exit) return true;
        }
        return false;
      },
      60s);
  INFO("instances: " << describe(instances));
  REQUIRE(crash_loop);
  for (const InstanceStatus& i : instances) {
    if (i.revision != 2) continue;
    CHECK_FALSE(i.ready);
    CHECK(i.last_exit->exit_code == 3);
    CHECK_THAT(i.last_exit->description, Catch::StartsWith("exited with code 3"));
  }
  CHECK(k8s_runtime.problems().empty());
  runtime.value().reset();
}
