#include "runtime/kubernetes_objects.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>

namespace sluice::runtime::k8s {

using nlohmann::json;

namespace {

// k8s.io/apimachinery/pkg/util/rand: no vowels (no words) and no 0/1/3 (no look-alikes).
constexpr std::string_view kSafeAlphanumerics = "bcdfghjklmnpqrstvwxz2456789";

std::string safe_encode(const std::string& text) {
  std::string out(text.size(), ' ');
  for (size_t i = 0; i < text.size(); ++i) {
    out[i] = kSafeAlphanumerics[static_cast<unsigned char>(text[i]) % kSafeAlphanumerics.size()];
  }
  return out;
}

uint32_t fnv1a32(std::string_view bytes) {
  uint32_t hash = 2166136261u;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  return hash;
}

const json* find(const json& object, std::initializer_list<const char*> path) {
  const json* at = &object;
  for (const char* key : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return at;
}

std::string string_at(const json& object, std::initializer_list<const char*> path) {
  const json* value = find(object, path);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

// Kubernetes names (DNS-1123 subdomain segments) and label values share this shape here: lower
// case alphanumerics and '-', starting and ending alphanumeric.
bool dns_label(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return name.front() != '-' && name.back() != '-';
}

ExitInfo exit_info(const json& terminated) {
  ExitInfo info;
  if (auto it = terminated.find("exitCode"); it != terminated.end() && it->is_number_integer()) {
    info.exit_code = it->get<int>();
  }
  if (auto it = terminated.find("signal"); it != terminated.end() && it->is_number_integer()) {
    info.signal = it->get<int>();
  }
  const std::string reason = string_at(terminated, {"reason"});
  if (info.signal) {
    info.description = fmt::format("killed by signal {}", *info.signal);
  } else if (info.exit_code) {
    info.description = fmt::format("exited with code {}", *info.exit_code);
  } else {
    info.description = "terminated";
  }
  if (!reason.empty()) info.description += fmt::format(" ({})", reason);
  const std::string message = string_at(terminated, {"message"});
  if (!message.empty()) info.description += ": " + message;
  if (auto at = parse_kube_time(string_at(terminated, {"finishedAt"}))) info.at = *at;
  return info;
}

}  // namespace

std::optional<TimePoint> parse_kube_time(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  size_t at = 19;
  int64_t millis = 0;
  if (at < text.size() && text[at] == '.') {
    int64_t scale = 100;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at) {
      millis += (text[at] - '0') * scale;
      scale /= 10;
    }
  }
  if (at + 1 != text.size() || text[at] != 'Z') return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return from_unix_ms(int64_t{timegm(&tm)} * 1000 + millis);
}

std::string pod_template_hash(const json& pod_template, int64_t revision) {
  const json canonical = {{"podTemplate", pod_template}, {"revision", revision}};
  return safe_encode(std::to_string(fnv1a32(canonical.dump())));
}

std::string replica_set_name(const std::string& rollout, const std::string& hash) {
  return rollout + "-" + hash;
}

json sluice_labels(const std::string& rollout, int64_t revision, const std::string& hash) {
  return {{kManagedByLabel, kManagedByValue},
          {kRolloutLabel, rollout},
          {kRevisionLabel, std::to_string(revision)},
          {kHashLabel, hash}};
}

Status validate_pod_template(const KubeRevision& revision) {
  // A ReplicaSet name is the rollout's plus '-' and at most 10 hash characters, and the
  // rollout's name is a label value: 63 characters at most.
  if (!dns_label(revision.rollout)) {
    return invalid_argument(fmt::format(
        "metadata.name: \"{}\" cannot name Kubernetes objects (lower-case letters, digits and "
        "'-', at most 63 characters)",
        revision.rollout));
  }
  const json& tpl = revision.pod_template;
  if (!tpl.is_object()) {
    return invalid_argument(
        "template.kubernetes: required by the kubernetes runtime (a Pod "
        "template: metadata and spec)");
  }
  const json* labels = find(tpl, {"metadata", "labels"});
  if (labels != nullptr && !labels->is_object()) {
    return invalid_argument("template.kubernetes.metadata.labels: must be a map");
  }
  if (labels != nullptr) {
    for (const char* key : {kManagedByLabel, kRolloutLabel, kRevisionLabel, kHashLabel}) {
      if (labels->contains(key)) {
        return invalid_argument(fmt::format(
            "template.kubernetes.metadata.labels.{}: set by Sluice, remove it from the template",
            key));
      }
    }
  }
  const json* containers = find(tpl, {"spec", "containers"});
  if (containers == nullptr || !containers->is_array() || containers->empty()) {
    return invalid_argument(
        "template.kubernetes.spec.containers: at least one container is "
        "required");
  }
  for (size_t i = 0; i < containers->size(); ++i) {
    const json& container = (*containers)[i];
    const std::string field = fmt::format("template.kubernetes.spec.containers[{}]", i);
    if (!container.is_object()) return invalid_argument(field + ": must be a map");
    for (const char* key : {"name", "image"}) {
      auto it = container.find(key);
      if (it == container.end() || !it->is_string() || it->get<std::string>().empty()) {
        return invalid_argument(fmt::format("{}.{}: required", field, key));
      }
    }
  }
  return Status::ok();
}

Result<json> replica_set_object(const KubeRevision& revision, int replicas) {
  if (Status valid = validate_pod_template(revision); !valid) return valid;
  if (replicas < 0) {
    return invalid_argument(fmt::format("replicas: {} is negative", replicas));
  }
  const std::string hash = pod_template_hash(revision.pod_template, revision.revision);
  const json labels = sluice_labels(revision.rollout, revision.revision, hash);

  json pod_template = revision.pod_template;
  json& pod_metadata = pod_template["metadata"];
  if (!pod_metadata.is_object()) pod_metadata = json::object();
  pod_metadata.erase("name");
  pod_metadata.erase("namespace");
  pod_metadata["labels"].update(labels);
  pod_metadata["annotations"][kRoleAnnotation] = role_name(revision.role);

  return json{
      {"apiVersion", "apps/v1"},
      {"kind", "ReplicaSet"},
      {"metadata",
       {{"name", replica_set_name(revision.rollout, hash)},
        {"namespace", revision.namespace_name},
        {"labels", labels},
        {"annotations",
         {{kCommitAnnotation, revision.commit}, {kVersionAnnotation, revision.version}}}}},
      {"spec",
       {{"replicas", replicas},
        {"selector", {{"matchLabels", {{kRolloutLabel, revision.rollout}, {kHashLabel, hash}}}}},
        {"template", std::move(pod_template)}}}};
}

bool managed_by_sluice(const json& object, const std::string& rollout) {
  return string_at(object, {"metadata", "labels", kManagedByLabel}) == kManagedByValue &&
         string_at(object, {"metadata", "labels", kRolloutLabel}) == rollout;
}

Result<PodObservation> observe_pod(const json& pod) {
  const std::string name = string_at(pod, {"metadata", "name"});
  const std::string where =
      fmt::format("Pod {}/{}", string_at(pod, {"metadata", "namespace"}), name);
  if (name.empty()) return invalid_argument("Pod without metadata.name");
  PodObservation out;
  InstanceStatus& status = out.status;
  status.id = name;
  status.rollout = string_at(pod, {"metadata", "labels", kRolloutLabel});
  if (status.rollout.empty()) {
    return invalid_argument(fmt::format("{}: metadata.labels.{} is missing", where, kRolloutLabel));
  }
  const std::string revision = string_at(pod, {"metadata", "labels", kRevisionLabel});
  try {
    size_t used = 0;
    status.revision = std::stoll(revision, &used);
    if (used != revision.size() || status.revision < 0) throw std::invalid_argument(revision);
  } catch (const std::exception&) {
    return invalid_argument(fmt::format("{}: metadata.labels.{}: \"{}\" is not a revision number",
                                        where, kRevisionLabel, revision));
  }
  out.role = string_at(pod, {"metadata", "annotations", kRoleAnnotation});
  out.pod_ip = string_at(pod, {"status", "podIP"});
  status.terminating = find(pod, {"metadata", "deletionTimestamp"}) != nullptr;
  if (auto created = parse_kube_time(string_at(pod, {"metadata", "creationTimestamp"}))) {
    status.creation_order = to_unix_ms(*created);
  }
  if (auto started = parse_kube_time(string_at(pod, {"status", "startTime"}))) {
    status.started_at = *started;
  }

  if (const json* containers = find(pod, {"spec", "containers"});
      containers && containers->is_array()) {
    for (const json& container : *containers) {
      const json* ports = find(container, {"ports"});
      if (ports == nullptr || !ports->is_array()) continue;
      for (const json& port : *ports) {
        const std::string port_name = string_at(port, {"name"});
        const json* number = find(port, {"containerPort"});
        if (!port_name.empty() && number != nullptr && number->is_number_integer()) {
          status.ports[port_name] = number->get<int>();
        }
      }
    }
  }

  if (const json* conditions = find(pod, {"status", "conditions"});
      conditions && conditions->is_array()) {
    for (const json& condition : *conditions) {
      if (string_at(condition, {"type"}) != "Ready") continue;
      status.ready = string_at(condition, {"status"}) == "True";
      if (auto since = parse_kube_time(string_at(condition, {"lastTransitionTime"}));
          since && status.ready) {
        status.ready_since = *since;
      }
    }
  }

  const json* container_statuses = find(pod, {"status", "containerStatuses"});
  bool all_started = container_statuses != nullptr && container_statuses->is_array() &&
                     !container_statuses->empty();
  if (container_statuses != nullptr && container_statuses->is_array()) {
    for (const json& cs : *container_statuses) {
      if (const json* restarts = find(cs, {"restartCount"});
          restarts && restarts->is_number_integer()) {
        status.restarts += restarts->get<int>();
      }
      const json* started = find(cs, {"started"});
      // Older kubelets have no `started`: a running container has started.
      const bool running = find(cs, {"state", "running"}) != nullptr;
      if (!(started != nullptr && started->is_boolean() ? started->get<bool>() : running)) {
        all_started = false;
      }
      const std::string waiting = string_at(cs, {"state", "waiting", "reason"});
      if (waiting == "CrashLoopBackOff") status.crash_loop = true;
      if (!waiting.empty()) {
        const std::string message = string_at(cs, {"state", "waiting", "message"});
        status.last_error = fmt::format("container {}: {}{}{}", string_at(cs, {"name"}), waiting,
                                        message.empty() ? "" : ": ", message);
      }
      // The current termination is newer than the last one.
      if (const json* now = find(cs, {"state", "terminated"}); now && now->is_object()) {
        status.last_exit = exit_info(*now);
      } else if (const json* last = find(cs, {"lastState", "terminated"});
                 last && last->is_object()) {
        status.last_exit = exit_info(*last);
      }
    }
  }
  status.started = all_started;
  return out;
}

}  // namespace sluice::runtime::k8s
