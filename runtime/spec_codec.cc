#include "runtime/spec_codec.h"

#include <fmt/format.h>

namespace sluice::runtime {
namespace {

using nlohmann::json;
using namespace manifests;

json action_to_json(const HttpGetAction& a) {
  json headers = json::array();
  for (const auto& h : a.http_headers) headers.push_back({{"name", h.name}, {"value", h.value}});
  return {{"path", a.path}, {"port", a.port}, {"host", a.host}, {"httpHeaders", headers}};
}

HttpGetAction http_from_json(const json& j) {
  HttpGetAction a;
  a.path = j.at("path").get<std::string>();
  a.port = j.at("port").get<std::string>();
  a.host = j.at("host").get<std::string>();
  for (const auto& h : j.at("httpHeaders")) {
    a.http_headers.push_back({h.at("name").get<std::string>(), h.at("value").get<std::string>()});
  }
  return a;
}

json probe_to_json(const Probe& p) {
  json j = {{"initialDelayMs", p.initial_delay.count()},
            {"periodMs", p.period.count()},
            {"timeoutMs", p.timeout.count()},
            {"successThreshold", p.success_threshold},
            {"failureThreshold", p.failure_threshold}};
  if (p.http_get) j["httpGet"] = action_to_json(*p.http_get);
  if (p.tcp_socket) j["tcpSocket"] = {{"port", p.tcp_socket->port}};
  if (p.exec) j["exec"] = {{"command", p.exec->command}};
  return j;
}

Probe probe_from_json(const json& j) {
  Probe p;
  p.initial_delay = Duration(j.at("initialDelayMs").get<int64_t>());
  p.period = Duration(j.at("periodMs").get<int64_t>());
  p.timeout = Duration(j.at("timeoutMs").get<int64_t>());
  p.success_threshold = j.at("successThreshold").get<int>();
  p.failure_threshold = j.at("failureThreshold").get<int>();
  if (j.contains("httpGet")) p.http_get = http_from_json(j["httpGet"]);
  if (j.contains("tcpSocket")) p.tcp_socket = TcpSocketAction{j["tcpSocket"].at("port")};
  if (j.contains("exec")) {
    p.exec = ExecAction{j["exec"].at("command").get<std::vector<std::string>>()};
  }
  return p;
}

json handler_to_json(const LifecycleHandler& h) {
  json j = {{"timeoutMs", h.timeout.count()}};
  if (h.http_post) j["httpPost"] = action_to_json(*h.http_post);
  if (h.exec) j["exec"] = {{"command", h.exec->command}};
  return j;
}

LifecycleHandler handler_from_json(const json& j) {
  LifecycleHandler h;
  h.timeout = Duration(j.at("timeoutMs").get<int64_t>());
  if (j.contains("httpPost")) h.http_post = http_from_json(j["httpPost"]);
  if (j.contains("exec")) {
    h.exec = ExecAction{j["exec"].at("command").get<std::vector<std::string>>()};
  }
  return h;
}

}  // namespace

json revision_to_json(const RevisionSpec& spec) {
  const PodTemplate& pod = spec.pod;
  json env = json::array();
  for (const auto& e : pod.env) env.push_back({{"name", e.name}, {"value", e.value}});
  json ports = json::array();
  for (const auto& p : pod.ports)
    ports.push_back({{"name", p.name}, {"containerPort", p.container_port}});
  json lifecycle = json::object();
  if (pod.lifecycle.activate) lifecycle["activate"] = handler_to_json(*pod.lifecycle.activate);
  if (pod.lifecycle.deactivate)
    lifecycle["deactivate"] = handler_to_json(*pod.lifecycle.deactivate);
  if (pod.lifecycle.pre_stop) lifecycle["preStop"] = handler_to_json(*pod.lifecycle.pre_stop);
  json j = {{"rollout", spec.rollout},
            {"revision", spec.revision},
            {"commit", spec.commit},
            {"checkoutDir", spec.checkout_dir},
            {"role", role_name(spec.role)},
            {"version", pod.version},
            {"command", pod.command},
            {"workingDir", pod.working_dir},
            {"env", env},
            {"ports", ports},
            {"lifecycle", lifecycle},
            {"terminationGracePeriodMs", pod.termination_grace_period.count()}};
  if (pod.readiness_probe) j["readinessProbe"] = probe_to_json(*pod.readiness_probe);
  if (pod.liveness_probe) j["livenessProbe"] = probe_to_json(*pod.liveness_probe);
  if (pod.startup_probe) j["startupProbe"] = probe_to_json(*pod.startup_probe);
  return j;
}

Result<RevisionSpec> revision_from_json(const json& j) {
  try {
    RevisionSpec spec;
    spec.rollout = j.at("rollout").get<std::string>();
    spec.revision = j.at("revision").get<int64_t>();
    spec.commit = j.at("commit").get<std::string>();
    spec.checkout_dir = j.at("checkoutDir").get<std::string>();
    const std::string role = j.at("role").get<std::string>();
    spec.role = role == "stable"    ? InstanceRole::kStable
                : role == "preview" ? InstanceRole::kPreview
                                    : InstanceRole::kCanary;
    PodTemplate& pod = spec.pod;
    pod.version = j.at("version").get<std::string>();
    pod.command = j.at("command").get<std::vector<std::string>>();
    pod.working_dir = j.at("workingDir").get<std::string>();
    for (const auto& e : j.at("env")) {
      pod.env.push_back({e.at("name").get<std::string>(), e.at("value").get<std::string>()});
    }
    for (const auto& p : j.at("ports")) {
      pod.ports.push_back({p.at("name").get<std::string>(), p.at("containerPort").get<int>()});
    }
    const json& lifecycle = j.at("lifecycle");
    if (lifecycle.contains("activate"))
      pod.lifecycle.activate = handler_from_json(lifecycle["activate"]);
    if (lifecycle.contains("deactivate")) {
      pod.lifecycle.deactivate = handler_from_json(lifecycle["deactivate"]);
    }
    if (lifecycle.contains("preStop"))
      pod.lifecycle.pre_stop = handler_from_json(lifecycle["preStop"]);
    pod.termination_grace_period = Duration(j.at("terminationGracePeriodMs").get<int64_t>());
    if (j.contains("readinessProbe")) pod.readiness_probe = probe_from_json(j["readinessProbe"]);
    if (j.contains("livenessProbe")) pod.liveness_probe = probe_from_json(j["livenessProbe"]);
    if (j.contains("startupProbe")) pod.startup_probe = probe_from_json(j["startupProbe"]);
    return spec;
  } catch (const json::exception& e) {
    return data_loss(fmt::format("revision record: {}", e.what()));
  }
}

}  // namespace sluice::runtime
