// The pure mapping between Sluice's revisions and Kubernetes objects, as
// /work/shared/reference/kubernetes.md ("What Sluice writes to the cluster") names them: a
// revision is one ReplicaSet `<rollout>-<pod-template-hash>`; a Pod is one instance. No I/O, no
// clock: KubernetesRuntime (kubernetes_runtime.h) does the writes and reads the informers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/status.h"
#include "runtime/runtime.h"

namespace sluice::runtime::k8s {

// Labels and annotations of the contract. Never rename them.
inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = "sluice";
inline constexpr const char* kRolloutLabel = "sluice.dev/rollout";
inline constexpr const char* kRevisionLabel = "sluice.dev/revision";
inline constexpr const char* kHashLabel = "rollouts-pod-template-hash";
inline constexpr const char* kCommitAnnotation = "sluice.dev/commit";
inline constexpr const char* kVersionAnnotation = "sluice.dev/version";
inline constexpr const char* kRoleAnnotation = "sluice.dev/role";

// One revision as Kubernetes sees it. `pod_template` is the Rollout's `template.kubernetes`, a
// PodTemplateSpec passed through as written (manifests::PodTemplate does not carry it yet; the
// runtime gets it from KubernetesRuntimeOptions::pod_template).
struct KubeRevision {
  std::string namespace_name;
  std::string rollout;
  int64_t revision = 0;
  std::string commit;
  std::string version;
  nlohmann::json pod_template;
  InstanceRole role = InstanceRole::kCanary;
};

// The pod-template hash: FNV-1a (32 bit) of a canonical serialisation (nlohmann's dump: object
// keys sorted, no whitespace) of {podTemplate, revision}, written as Argo Rollouts writes its
// hash (the decimal digits of the sum, each mapped to an unambiguous alphanumeric, k8s
// rand.SafeEncodeString). Same input, same hash, on every machine and after every restart. The
// revision is part of it so that two revisions with an equal template (an undo) still get a
// ReplicaSet each, whose `sluice.dev/revision` label stays true.
std::string pod_template_hash(const nlohmann::json& pod_template, int64_t revision);

// `<rollout>-<hash>`.
std::string replica_set_name(const std::string& rollout, const std::string& hash);

// The labels the ReplicaSet and its Pods carry (managed-by, rollout, revision, hash).
nlohmann::json sluice_labels(const std::string& rollout, int64_t revision, const std::string& hash);

// Checks that the template can run on Kubernetes. Errors are kInvalidArgument and name the field
// under `template.kubernetes`: "template.kubernetes.spec.containers[0].image: required".
Status validate_pod_template(const KubeRevision& revision);

// The ReplicaSet (apps/v1) of a revision with `replicas` replicas: the contract's name, labels
// and annotations, a selector on {rollout, hash}, and the template with Sluice's labels added to
// its own and the role annotation set. Errors as validate_pod_template.
Result<nlohmann::json> replica_set_object(const KubeRevision& revision, int replicas);

// Whether an object carries `app.kubernetes.io/managed-by: sluice` and `sluice.dev/rollout:
// <rollout>`: only such objects are scaled, patched or deleted.
bool managed_by_sluice(const nlohmann::json& object, const std::string& rollout);

// A Pod as Sluice sees it.
struct PodObservation {
  InstanceStatus status;
  std::string pod_ip;  // "" until scheduled and started
  std::string role;    // the sluice.dev/role annotation, "" when absent
};

// A Pod to InstanceStatus: id = the Pod's name; rollout and revision from Sluice's labels;
// ready from the Ready condition (ready_since = its lastTransitionTime); started when every
// container has started; restarts summed over the containers; crash_loop when a container
// waits in CrashLoopBackOff; last_exit from the current `state.terminated` or else
// `lastState.terminated` (exit code, signal, reason: "exited with code 137 (OOMKilled)");
// last_error from a waiting reason and message; terminating from metadata.deletionTimestamp;
// ports from the containers' named ports; creation_order from creationTimestamp.
// Errors (kInvalidArgument) name the Pod and the field: a Pod without Sluice's labels or with a
// revision label that is not a number.
Result<PodObservation> observe_pod(const nlohmann::json& pod);

// "2026-12-08T01:37:52Z" (optionally with fractional seconds) -> TimePoint; nullopt when it is
// not RFC 3339 in UTC.
std::optional<TimePoint> parse_kube_time(const std::string& text);

}  // namespace sluice::runtime::k8s
