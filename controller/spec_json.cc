#include "controller/spec_json.h"

#include "base/duration.h"
#include "strategies/rollout_status.h"

namespace sluice::controller {

using nlohmann::json;
namespace m = manifests;

namespace {

json dur(Duration d) { return d.count(); }
Duration dur_from(const json& j) { return Duration(j.get<int64_t>()); }

template <typename T, typename F>
json opt(const std::optional<T>& v, F f) {
  return v ? f(*v) : json(nullptr);
}
template <typename T, typename F>
std::optional<T> opt_from(const json& j, const char* key, F f) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return f(j.at(key));
}

json int_or_percent(const m::IntOrPercent& v) { return {v.value, v.percent}; }
m::IntOrPercent int_or_percent_from(const json& j) {
  return {j.at(0).get<int>(), j.at(1).get<bool>()};
}

json headers(const std::vector<m::HttpHeader>& hs) {
  json a = json::array();
  for (const auto& h : hs) a.push_back({h.name, h.value});
  return a;
}
std::vector<m::HttpHeader> headers_from(const json& j) {
  std::vector<m::HttpHeader> out;
  for (const auto& h : j) out.push_back({h.at(0).get<std::string>(), h.at(1).get<std::string>()});
  return out;
}

json http_get(const m::HttpGetAction& a) {
  return {
      {"path", a.path}, {"port", a.port}, {"host", a.host}, {"headers", headers(a.http_headers)}};
}
m::HttpGetAction http_get_from(const json& j) {
  m::HttpGetAction a;
  a.path = j.at("path").get<std::string>();
  a.port = j.at("port").get<std::string>();
  a.host = j.at("host").get<std::string>();
  a.http_headers = headers_from(j.at("headers"));
  return a;
}
json exec(const m::ExecAction& e) { return e.command; }
m::ExecAction exec_from(const json& j) { return {j.get<std::vector<std::string>>()}; }

json probe(const m::Probe& p) {
  return {
      {"httpGet", opt(p.http_get, http_get)},
      {"tcpSocket", opt(p.tcp_socket, [](const m::TcpSocketAction& t) { return json(t.port); })},
      {"exec", opt(p.exec, exec)},
      {"initialDelay", dur(p.initial_delay)},
      {"period", dur(p.period)},
      {"timeout", dur(p.timeout)},
      {"successThreshold", p.success_threshold},
      {"failureThreshold", p.failure_threshold}};
}
m::Probe probe_from(const json& j) {
  m::Probe p;
  p.http_get = opt_from<m::HttpGetAction>(j, "httpGet", http_get_from);
  p.tcp_socket = opt_from<m::TcpSocketAction>(
      j, "tcpSocket", [](const json& v) { return m::TcpSocketAction{v.get<std::string>()}; });
  p.exec = opt_from<m::ExecAction>(j, "exec", exec_from);
  p.initial_delay = dur_from(j.at("initialDelay"));
  p.period = dur_from(j.at("period"));
  p.timeout = dur_from(j.at("timeout"));
  p.success_threshold = j.at("successThreshold").get<int>();
  p.failure_threshold = j.at("failureThreshold").get<int>();
  return p;
}

json handler(const m::LifecycleHandler& h) {
  return {{"httpPost", opt(h.http_post, http_get)},
          {"exec", opt(h.exec, exec)},
          {"timeout", dur(h.timeout)}};
}
m::LifecycleHandler handler_from(const json& j) {
  m::LifecycleHandler h;
  h.http_post = opt_from<m::HttpGetAction>(j, "httpPost", http_get_from);
  h.exec = opt_from<m::ExecAction>(j, "exec", exec_from);
  h.timeout = dur_from(j.at("timeout"));
  return h;
}

json pod(const m::PodTemplate& t) {
  json env = json::array();
  for (const auto& e : t.env) env.push_back({e.name, e.value});
  json ports = json::array();
  for (const auto& p : t.ports) ports.push_back({p.name, p.container_port});
  return {{"version", t.version},
          {"command", t.command},
          {"workingDir", t.working_dir},
          {"env", env},
          {"ports", ports},
          {"readinessProbe", opt(t.readiness_probe, probe)},
          {"livenessProbe", opt(t.liveness_probe, probe)},
          {"startupProbe", opt(t.startup_probe, probe)},
          {"activate", opt(t.lifecycle.activate, handler)},
          {"deactivate", opt(t.lifecycle.deactivate, handler)},
          {"preStop", opt(t.lifecycle.pre_stop, handler)},
          {"terminationGracePeriod", dur(t.termination_grace_period)}};
}
m::PodTemplate pod_from(const json& j) {
  m::PodTemplate t;
  t.version = j.at("version").get<std::string>();
  t.command = j.at("command").get<std::vector<std::string>>();
  t.working_dir = j.at("workingDir").get<std::string>();
  for (const auto& e : j.at("env"))
    t.env.push_back({e.at(0).get<std::string>(), e.at(1).get<std::string>()});
  for (const auto& p : j.at("ports"))
    t.ports.push_back({p.at(0).get<std::string>(), p.at(1).get<int>()});
  t.readiness_probe = opt_from<m::Probe>(j, "readinessProbe", probe_from);
  t.liveness_probe = opt_from<m::Probe>(j, "livenessProbe", probe_from);
  t.startup_probe = opt_from<m::Probe>(j, "startupProbe", probe_from);
  t.lifecycle.activate = opt_from<m::LifecycleHandler>(j, "activate", handler_from);
  t.lifecycle.deactivate = opt_from<m::LifecycleHandler>(j, "deactivate", handler_from);
  t.lifecycle.pre_stop = opt_from<m::LifecycleHandler>(j, "preStop", handler_from);
  t.termination_grace_period = dur_from(j.at("terminationGracePeriod"));
  return t;
}

json analysis(const m::RolloutAnalysis& a) {
  json templates = json::array();
  for (const auto& t : a.templates) templates.push_back(t.template_name);
  json args = json::array();
  for (const auto& arg : a.args)
    args.push_back({arg.name, arg.value ? json(*arg.value) : json(nullptr)});
  return {{"templates", templates}, {"args", args}, {"startingStep", a.starting_step}};
}
std::vector<m::AnalysisArg> args_from(const json& j) {
  std::vector<m::AnalysisArg> out;
  for (const auto& arg : j) {
    m::AnalysisArg a;
    a.name = arg.at(0).get<std::string>();
    if (!arg.at(1).is_null()) a.value = arg.at(1).get<std::string>();
    out.push_back(a);
  }
  return out;
}
m::RolloutAnalysis analysis_from(const json& j) {
  m::RolloutAnalysis a;
  for (const auto& t : j.at("templates")) a.templates.push_back({t.get<std::string>()});
  a.args = args_from(j.at("args"));
  a.starting_step = j.at("startingStep").get<int>();
  return a;
}

json step(const m::CanaryStep& s) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, m::SetWeightStep>) {
          return {{"setWeight", v.weight}};
        } else if constexpr (std::is_same_v<T, m::PauseStep>) {
          return {{"pause", opt(v.duration, dur)}};
        } else if constexpr (std::is_same_v<T, m::SetCanaryScale>) {
          return {{"setCanaryScale", strategies::canary_scale_to_json(v)}};
        } else if constexpr (std::is_same_v<T, m::RolloutAnalysis>) {
          return {{"analysis", analysis(v)}};
        } else {
          return {{"setHeaderRoute", strategies::header_route_to_json(v)}};
        }
      },
      s);
}
m::CanaryStep step_from(const json& j) {
  if (j.contains("setWeight")) return m::SetWeightStep{j.at("setWeight").get<int>()};
  if (j.contains("pause")) return m::PauseStep{opt_from<Duration>(j, "pause", dur_from)};
  if (j.contains("setCanaryScale"))
    return strategies::canary_scale_from_json(j.at("setCanaryScale"));
  if (j.contains("analysis")) return analysis_from(j.at("analysis"));
  return strategies::header_route_from_json(j.at("setHeaderRoute"));
}

json strategy(const m::Strategy& s) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, m::RollingUpdateStrategy>) {
          return {{"rollingUpdate",
                   {{"maxSurge", int_or_percent(v.max_surge)},
                    {"maxUnavailable", int_or_percent(v.max_unavailable)}}}};
        } else if constexpr (std::is_same_v<T, m::CanaryStrategy>) {
          json steps = json::array();
          for (const auto& st : v.steps) steps.push_back(step(st));
          json routing = nullptr;
          if (v.traffic_routing) {
            routing = {{"builtin", v.traffic_routing->builtin},
                       {"haproxy", opt(v.traffic_routing->haproxy, [](const m::HaproxyRouting& h) {
                          return json{h.runtime_api, h.backend};
                        })}};
          }
          return {{"canary",
                   {{"maxSurge", int_or_percent(v.max_surge)},
                    {"maxUnavailable", int_or_percent(v.max_unavailable)},
                    {"trafficRouting", routing},
                    {"steps", steps},
                    {"analysis", opt(v.analysis, analysis)},
                    {"scaleDownDelay", dur(v.scale_down_delay)},
                    {"abortScaleDownDelay", dur(v.abort_scale_down_delay)}}}};
        } else {
          return {{"blueGreen",
                   {{"preview",
                     opt(v.preview, [](const m::PreviewService& p) { return json(p.listen); })},
                    {"autoPromotionEnabled", v.auto_promotion_enabled},
                    {"autoPromotionSeconds", dur(v.auto_promotion_seconds)},
                    {"previewReplicaCount", v.preview_replica_count},
                    {"prePromotionAnalysis", opt(v.pre_promotion_analysis, analysis)},
                    {"postPromotionAnalysis", opt(v.post_promotion_analysis, analysis)},
                    {"scaleDownDelay", dur(v.scale_down_delay)},
                    {"abortScaleDownDelay", dur(v.abort_scale_down_delay)}}}};
        }
      },
      s);
}
m::Strategy strategy_from(const json& j) {
  if (j.contains("rollingUpdate")) {
    const json& r = j.at("rollingUpdate");
    return m::RollingUpdateStrategy{int_or_percent_from(r.at("maxSurge")),
                                    int_or_percent_from(r.at("maxUnavailable"))};
  }
  if (j.contains("canary")) {
    const json& c = j.at("canary");
    m::CanaryStrategy s;
    s.max_surge = int_or_percent_from(c.at("maxSurge"));
    s.max_unavailable = int_or_percent_from(c.at("maxUnavailable"));
    if (!c.at("trafficRouting").is_null()) {
      m::TrafficRouting t;
      t.builtin = c.at("trafficRouting").at("builtin").get<bool>();
      t.haproxy = opt_from<m::HaproxyRouting>(c.at("trafficRouting"), "haproxy", [](const json& h) {
        return m::HaproxyRouting{h.at(0).get<std::string>(), h.at(1).get<std::string>()};
      });
      s.traffic_routing = t;
    }
    for (const auto& st : c.at("steps")) s.steps.push_back(step_from(st));
    s.analysis = opt_from<m::RolloutAnalysis>(c, "analysis", analysis_from);
    s.scale_down_delay = dur_from(c.at("scaleDownDelay"));
    s.abort_scale_down_delay = dur_from(c.at("abortScaleDownDelay"));
    return s;
  }
  const json& b = j.at("blueGreen");
  m::BlueGreenStrategy s;
  s.preview = opt_from<m::PreviewService>(
      b, "preview", [](const json& p) { return m::PreviewService{p.get<std::string>()}; });
  s.auto_promotion_enabled = b.at("autoPromotionEnabled").get<bool>();
  s.auto_promotion_seconds = dur_from(b.at("autoPromotionSeconds"));
  s.preview_replica_count = b.at("previewReplicaCount").get<int>();
  s.pre_promotion_analysis = opt_from<m::RolloutAnalysis>(b, "prePromotionAnalysis", analysis_from);
  s.post_promotion_analysis =
      opt_from<m::RolloutAnalysis>(b, "postPromotionAnalysis", analysis_from);
  s.scale_down_delay = dur_from(b.at("scaleDownDelay"));
  s.abort_scale_down_delay = dur_from(b.at("abortScaleDownDelay"));
  return s;
}

// spec.webhooks as persisted (the journal only: the URL may carry a token and never reaches the
// API).
json webhooks_json(const std::vector<m::Webhook>& hooks) {
  json out = json::array();
  for (const auto& w : hooks) {
    out.push_back({{"name", w.name},
                   {"type", w.type},
                   {"url", w.url},
                   {"timeoutMs", w.timeout.count()},
                   {"intervalMs", w.interval.count()},
                   {"failureLimit", w.failure_limit},
                   {"metadata", w.metadata}});
  }
  return out;
}

std::vector<m::Webhook> webhooks_from(const json& j) {
  std::vector<m::Webhook> out;
  for (const auto& e : j) {
    m::Webhook w;
    w.name = e.at("name").get<std::string>();
    w.type = e.at("type").get<std::string>();
    w.url = e.at("url").get<std::string>();
    w.timeout = Duration(e.at("timeoutMs").get<int64_t>());
    w.interval = Duration(e.at("intervalMs").get<int64_t>());
    w.failure_limit = e.at("failureLimit").get<int>();
    w.metadata = e.at("metadata").get<std::map<std::string, std::string>>();
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace

json spec_to_json(const m::RolloutSpec& s) {
  return {{"replicas", s.replicas},
          {"minReadySeconds", s.min_ready_seconds},
          {"revisionHistoryLimit", s.revision_history_limit},
          {"progressDeadlineSeconds", s.progress_deadline_seconds},
          {"progressDeadlineAbort", s.progress_deadline_abort},
          {"paused", s.paused},
          {"rollbackWindow", s.rollback_window_revisions},
          {"template", pod(s.template_)},
          {"service", opt(s.service,
                          [](const m::ServiceSpec& v) {
                            return json{v.listen, v.target_port};
                          })},
          {"strategy", strategy(s.strategy)},
          {"prune", s.prune},
          {"webhooks", webhooks_json(s.webhooks)},
          {"gitWriteBack", opt(s.git_write_back, [](const m::GitWriteBack& v) {
             return json{{"onAbort", v.on_abort}};
           })}};
}

m::RolloutSpec spec_from_json(const json& j) {
  m::RolloutSpec s;
  s.replicas = j.at("replicas").get<int>();
  s.min_ready_seconds = j.at("minReadySeconds").get<int>();
  s.revision_history_limit = j.at("revisionHistoryLimit").get<int>();
  s.progress_deadline_seconds = j.at("progressDeadlineSeconds").get<int>();
  s.progress_deadline_abort = j.at("progressDeadlineAbort").get<bool>();
  s.paused = j.at("paused").get<bool>();
  s.rollback_window_revisions = j.at("rollbackWindow").get<int>();
  s.template_ = pod_from(j.at("template"));
  s.service = opt_from<m::ServiceSpec>(j, "service", [](const json& v) {
    return m::ServiceSpec{v.at(0).get<std::string>(), v.at(1).get<std::string>()};
  });
  s.strategy = strategy_from(j.at("strategy"));
  s.prune = j.at("prune").get<bool>();
  if (j.contains("webhooks")) s.webhooks = webhooks_from(j.at("webhooks"));  // absent: older
  // Absent in records written before issue 21.
  s.git_write_back = opt_from<m::GitWriteBack>(j, "gitWriteBack", [](const json& v) {
    return m::GitWriteBack{v.at("onAbort").get<std::string>()};
  });
  return s;
}

json template_to_json(const m::AnalysisTemplate& t) {
  // Analysis templates are not persisted (the source re-delivers them on start); this form is
  // for evidence in events only.
  json metrics = json::array();
  for (const auto& metric : t.spec.metrics) {
    metrics.push_back({{"name", metric.name},
                       {"provider", m::provider_name(metric.provider)},
                       {"successCondition", metric.success_condition},
                       {"failureCondition", metric.failure_condition},
                       {"failureLimit", metric.failure_limit}});
  }
  return {{"name", t.metadata.name}, {"metrics", metrics}};
}

m::AnalysisTemplate template_from_json(const json& j) {
  m::AnalysisTemplate t;
  t.metadata.name = j.at("name").get<std::string>();
  return t;
}

json manifest_steps_json(const m::Strategy& strategy) {
  json steps = json::array();
  const auto* canary = std::get_if<m::CanaryStrategy>(&strategy);
  if (!canary) return steps;
  for (const auto& s : canary->steps) {
    steps.push_back(std::visit(
        [](const auto& v) -> json {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, m::SetWeightStep>) {
            return {{"setWeight", v.weight}};
          } else if constexpr (std::is_same_v<T, m::PauseStep>) {
            json pause = json::object();
            if (v.duration) pause["duration"] = format_duration(*v.duration);
            return {{"pause", pause}};
          } else if constexpr (std::is_same_v<T, m::SetCanaryScale>) {
            return {{"setCanaryScale", strategies::canary_scale_to_json(v)}};
          } else if constexpr (std::is_same_v<T, m::RolloutAnalysis>) {
            json templates = json::array();
            for (const auto& t : v.templates)
              templates.push_back({{"templateName", t.template_name}});
            json analysis_step = {{"templates", templates}};
            if (!v.args.empty()) {
              json args = json::array();
              for (const auto& arg : v.args) {
                json a = {{"name", arg.name}};
                if (arg.value) a["value"] = *arg.value;
                args.push_back(a);
              }
              analysis_step["args"] = args;
            }
            return {{"analysis", analysis_step}};
          } else {
            return {{"setHeaderRoute", strategies::header_route_to_json(v)}};
          }
        },
        s));
  }
  return steps;
}

}  // namespace sluice::controller
