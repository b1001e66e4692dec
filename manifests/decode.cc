// Decode functions for every manifest type. Each runs in decode mode (YAML -> struct) and in
// schema mode (-> JSON Schema); see yaml_reader.h. Field-local checks (types, bounds, exactly-one)
// live here; checks that relate fields or documents live in validate.cc.
#include "manifests/decode.h"

#include <cstdlib>

#include <fmt/format.h>

namespace sluice::manifests {

namespace {

const Bounds kNonNegative{0, std::nullopt, false};
const Bounds kPositive{0, std::nullopt, true};
const Bounds kAtLeastOne{1, std::nullopt, false};

void decode_header(ObjectReader& r, HttpHeader& h) {
  r.require("name");
  r.field("name", h.name);
  r.field("value", h.value);
}

void decode_http_action(ObjectReader& r, HttpGetAction& a) {
  r.require("port");
  r.field("path", a.path, {}, "request path, default /");
  r.field("port", a.port, {}, "a named port of the template, or a number");
  r.field("host", a.host, {}, "default 127.0.0.1");
  r.list<HttpHeader>("httpHeaders", a.http_headers, decode_header);
}

void decode_tcp_action(ObjectReader& r, TcpSocketAction& a) {
  r.require("port");
  r.field("port", a.port);
}

void decode_exec_action(ObjectReader& r, ExecAction& a) {
  r.require("command");
  r.field("command", a.command, {}, "argv; run without a shell");
  if (!r.schema_mode() && r.has("command") && a.command.empty()) {
    r.error("command", "must not be empty");
  }
}

void decode_probe(ObjectReader& r, Probe& p) {
  r.exactly_one({"httpGet", "tcpSocket", "exec"}, /*allow_none=*/true);
  r.object<HttpGetAction>("httpGet", p.http_get, decode_http_action);
  r.object<TcpSocketAction>("tcpSocket", p.tcp_socket, decode_tcp_action);
  r.object<ExecAction>("exec", p.exec, decode_exec_action);
  r.seconds("initialDelaySeconds", p.initial_delay, kNonNegative, true);
  r.seconds("periodSeconds", p.period, {0.05, std::nullopt, false}, true,
            "fractions allowed, at least 0.05");
  r.seconds("timeoutSeconds", p.timeout, kPositive, true);
  r.field("successThreshold", p.success_threshold, kAtLeastOne);
  r.field("failureThreshold", p.failure_threshold, kAtLeastOne);
}

void decode_lifecycle_handler(ObjectReader& r, LifecycleHandler& h) {
  r.exactly_one({"httpPost", "exec"});
  r.object<HttpGetAction>("httpPost", h.http_post, decode_http_action);
  r.object<ExecAction>("exec", h.exec, decode_exec_action);
  r.seconds("timeoutSeconds", h.timeout, kPositive, true, "default 30");
}

void decode_lifecycle(ObjectReader& r, Lifecycle& l) {
  r.object<LifecycleHandler>("activate", l.activate, decode_lifecycle_handler,
                             "start consuming (blue-green handover for consumers)");
  r.object<LifecycleHandler>("deactivate", l.deactivate, decode_lifecycle_handler,
                             "stop consuming, finish in-flight work, commit/ack");
  r.object<LifecycleHandler>("preStop", l.pre_stop, decode_lifecycle_handler);
}

void decode_env(ObjectReader& r, EnvVar& e) {
  r.require("name");
  r.field("name", e.name);
  r.field("value", e.value);
}

void decode_port(ObjectReader& r, ContainerPort& p) {
  r.require("name");
  r.field("name", p.name);
  r.field("containerPort", p.container_port, {0, 65535, false},
          "0 = allocate a free loopback port per instance");
}

void decode_template(ObjectReader& r, PodTemplate& t) {
  r.require("command");
  r.field("version", t.version, {}, "free-form label, shown everywhere");
  r.field("command", t.command, {}, "argv; $(VAR) expands from env and ports; no shell");
  if (!r.schema_mode() && r.has("command") && t.command.empty()) {
    r.error("command", "must not be empty");
  }
  r.field("workingDir", t.working_dir, {}, "relative to the repository checkout");
  r.list<EnvVar>("env", t.env, decode_env);
  r.list<ContainerPort>("ports", t.ports, decode_port);
  r.object<Probe>("readinessProbe", t.readiness_probe, decode_probe);
  r.object<Probe>("livenessProbe", t.liveness_probe, decode_probe);
  r.object<Probe>("startupProbe", t.startup_probe, decode_probe);
  r.object<Lifecycle>("lifecycle", t.lifecycle, decode_lifecycle);
  r.seconds("terminationGracePeriodSeconds", t.termination_grace_period, kNonNegative, true,
            "SIGTERM, then SIGKILL after this; default 30");
}

void decode_service(ObjectReader& r, ServiceSpec& s) {
  r.require("listen");
  r.field("listen", s.listen, {}, "host:port of the front door");
  r.field("targetPort", s.target_port, {}, "named port of the template; default http");
}

void decode_template_ref(ObjectReader& r, AnalysisTemplateRef& t) {
  r.require("templateName");
  r.field("templateName", t.template_name);
}

void decode_arg(ObjectReader& r, AnalysisArg& a) {
  r.require("name");
  r.field("name", a.name);
  r.field("value", a.value);
}

void decode_rollout_analysis(ObjectReader& r, RolloutAnalysis& a) {
  r.require("templates");
  r.list<AnalysisTemplateRef>("templates", a.templates, decode_template_ref);
  r.list<AnalysisArg>("args", a.args, decode_arg);
}

void decode_background_analysis(ObjectReader& r, RolloutAnalysis& a) {
  decode_rollout_analysis(r, a);
  r.field("startingStep", a.starting_step, kNonNegative);
}

void decode_string_match(ObjectReader& r, StringMatch& m) {
  r.exactly_one({"exact", "prefix", "regex"});
  r.field("exact", m.exact);
  r.field("prefix", m.prefix);
  r.field("regex", m.regex);
}

void decode_header_match(ObjectReader& r, HeaderRouteMatch& m) {
  r.require("headerName");
  r.require("headerValue");
  r.field("headerName", m.header_name);
  r.object<StringMatch>("headerValue", m.header_value, decode_string_match);
}

void decode_set_header_route(ObjectReader& r, SetHeaderRoute& s) {
  r.require("name");
  r.field("name", s.name);
  r.list<HeaderRouteMatch>("match", s.match, decode_header_match);
}

void decode_set_canary_scale(ObjectReader& r, SetCanaryScale& s) {
  r.exactly_one({"replicas", "weight", "matchTrafficWeight"});
  r.field("replicas", s.replicas, kNonNegative);
  r.field("weight", s.weight, {0, 100, false});
  r.field("matchTrafficWeight", s.match_traffic_weight);
}

void decode_pause(ObjectReader& r, PauseStep& p) {
  r.duration("duration", p.duration, kNonNegative, "absent = wait for promote");
}

// One canary step: an object with exactly one key.
struct StepHolder {
  std::optional<int> set_weight;
  std::optional<PauseStep> pause;
  std::optional<SetCanaryScale> set_canary_scale;
  std::optional<RolloutAnalysis> analysis;
  std::optional<SetHeaderRoute> set_header_route;
  bool valid = true;
  size_t source_index = 0;  // N of "steps[N]": the list skips items that are not mappings
};

void decode_step(ObjectReader& r, StepHolder& s) {
  if (const size_t open = r.path().rfind('['); open != std::string::npos) {
    s.source_index = std::strtoul(r.path().c_str() + open + 1, nullptr, 10);
  }
  const std::string which =
      r.exactly_one({"setWeight", "pause", "setCanaryScale", "analysis", "setHeaderRoute"});
  s.valid = r.schema_mode() || !which.empty();
  r.field("setWeight", s.set_weight, {0, 100, false}, "percent of traffic to the canary");
  if (!r.schema_mode() && which == "pause") {
    // `pause: {}` and `pause:` (null) both mean "wait for promote".
    const YAML::Node* n = r.raw("pause");
    if (n != nullptr && n->IsNull()) {
      s.pause = PauseStep{};
      return;
    }
  }
  r.object<PauseStep>("pause", s.pause, decode_pause);
  r.object<SetCanaryScale>("setCanaryScale", s.set_canary_scale, decode_set_canary_scale);
  r.object<RolloutAnalysis>("analysis", s.analysis, decode_rollout_analysis);
  r.object<SetHeaderRoute>("setHeaderRoute", s.set_header_route, decode_set_header_route);
}

void decode_empty(ObjectReader&, bool&) {}

void decode_haproxy(ObjectReader& r, HaproxyRouting& h) {
  r.require("runtimeApi");
  r.require("backend");
  r.field("runtimeApi", h.runtime_api, {}, "path to HAProxy's admin socket");
  r.field("backend", h.backend);
}

void decode_traffic_routing(ObjectReader& r, TrafficRouting& t) {
  r.exactly_one({"builtin", "haproxy"});
  std::optional<bool> builtin;
  r.object<bool>("builtin", builtin, decode_empty, "Sluice's own weighted router: {}");
  t.builtin = builtin.has_value();
  r.object<HaproxyRouting>("haproxy", t.haproxy, decode_haproxy);
}

void decode_canary(ObjectReader& r, CanaryStrategy& c) {
  r.field("maxSurge", c.max_surge);
  r.field("maxUnavailable", c.max_unavailable);
  r.object<TrafficRouting>("trafficRouting", c.traffic_routing, decode_traffic_routing,
                           "omitted: weight approximated by replica counts");
  std::vector<StepHolder> steps;
  r.list<StepHolder>("steps", steps, decode_step);
  c.steps.clear();
  DocumentOrigin* origin = r.ctx().origin;
  if (origin != nullptr) origin->canary_step_sources.clear();
  for (auto& s : steps) {
    if (!s.valid) continue;
    if (origin != nullptr) origin->canary_step_sources.push_back(s.source_index);
    if (s.set_weight)
      c.steps.emplace_back(SetWeightStep{*s.set_weight});
    else if (s.pause)
      c.steps.emplace_back(*s.pause);
    else if (s.set_canary_scale)
      c.steps.emplace_back(*s.set_canary_scale);
    else if (s.analysis)
      c.steps.emplace_back(*s.analysis);
    else if (s.set_header_route)
      c.steps.emplace_back(*s.set_header_route);
  }
  r.object<RolloutAnalysis>("analysis", c.analysis, decode_background_analysis,
                            "background analysis from startingStep until the rollout ends");
  r.seconds("scaleDownDelaySeconds", c.scale_down_delay, kNonNegative, true);
  r.seconds("abortScaleDownDelaySeconds", c.abort_scale_down_delay, kNonNegative, true);
}

void decode_rolling(ObjectReader& r, RollingUpdateStrategy& s) {
  r.field("maxSurge", s.max_surge);
  r.field("maxUnavailable", s.max_unavailable);
}

void decode_preview(ObjectReader& r, PreviewService& p) {
  r.require("listen");
  r.field("listen", p.listen);
}

void decode_blue_green(ObjectReader& r, BlueGreenStrategy& b) {
  r.object<PreviewService>("preview", b.preview, decode_preview, "optional preview front door");
  r.field("autoPromotionEnabled", b.auto_promotion_enabled);
  r.seconds("autoPromotionSeconds", b.auto_promotion_seconds, kNonNegative, true);
  r.field("previewReplicaCount", b.preview_replica_count, kNonNegative, "0 = full size");
  r.object<RolloutAnalysis>("prePromotionAnalysis", b.pre_promotion_analysis,
                            decode_rollout_analysis);
  r.object<RolloutAnalysis>("postPromotionAnalysis", b.post_promotion_analysis,
                            decode_rollout_analysis);
  r.seconds("scaleDownDelaySeconds", b.scale_down_delay, kNonNegative, true);
  r.seconds("abortScaleDownDelaySeconds", b.abort_scale_down_delay, kNonNegative, true);
}

struct StrategyHolder {
  std::optional<RollingUpdateStrategy> rolling;
  std::optional<CanaryStrategy> canary;
  std::optional<BlueGreenStrategy> blue_green;
};

void decode_strategy(ObjectReader& r, StrategyHolder& s) {
  r.exactly_one({"rollingUpdate", "canary", "blueGreen"});
  r.object<RollingUpdateStrategy>("rollingUpdate", s.rolling, decode_rolling);
  r.object<CanaryStrategy>("canary", s.canary, decode_canary);
  r.object<BlueGreenStrategy>("blueGreen", s.blue_green, decode_blue_green);
}

void decode_rollback_window(ObjectReader& r, int& revisions) {
  r.field("revisions", revisions, kNonNegative);
}

void decode_webhook(ObjectReader& r, Webhook& w) {
  r.require("name");
  r.require("type");
  r.require("url");
  r.field("name", w.name, {}, "unique per Rollout");
  r.enum_field("type", w.type,
               {"confirm-rollout", "pre-rollout", "rollout", "confirm-promotion", "post-rollout",
                "rollback", "event"},
               "Flagger's webhook types");
  r.field("url", w.url, {}, "http:// or https://; may carry a token (never shown)");
  r.duration("timeout", w.timeout, {0, 600, true}, "default 10s, at most 10m");
  r.duration("interval", w.interval, {0.1, 3600, false},
             "polled types and rollout: time between calls, default 10s");
  r.field("failureLimit", w.failure_limit, kNonNegative,
          "rollout: failed calls tolerated before the rollout aborts, default 0");
  r.field("metadata", w.metadata, {}, "string map passed in the POST body");
}

void decode_git_write_back(ObjectReader& r, GitWriteBack& g) {
  r.require("onAbort");
  r.enum_field("onAbort", g.on_abort, {"revert", "none"});
}

void decode_rollout_spec(ObjectReader& r, RolloutSpec& s) {
  r.require("template");
  r.require("strategy");
  r.field("replicas", s.replicas, kNonNegative);
  r.field("minReadySeconds", s.min_ready_seconds, kNonNegative);
  r.field("revisionHistoryLimit", s.revision_history_limit, kNonNegative);
  r.field("progressDeadlineSeconds", s.progress_deadline_seconds, kAtLeastOne);
  r.field("progressDeadlineAbort", s.progress_deadline_abort);
  r.field("paused", s.paused);
  r.object<int>("rollbackWindow", s.rollback_window_revisions, decode_rollback_window,
                "going back to one of the last N revisions skips steps and analysis");
  r.object<PodTemplate>("template", s.template_, decode_template,
                        "any change here starts a new revision");
  r.object<ServiceSpec>("service", s.service, decode_service,
                        "front door owned by the router; omit for pure consumers");
  StrategyHolder holder;
  r.object<StrategyHolder>("strategy", holder, decode_strategy);
  if (holder.rolling)
    s.strategy = *holder.rolling;
  else if (holder.canary)
    s.strategy = *holder.canary;
  else if (holder.blue_green)
    s.strategy = *holder.blue_green;
  r.field("prune", s.prune, {}, "false: keep running (orphaned) when removed from Git");
  r.list<Webhook>("webhooks", s.webhooks, decode_webhook,
                  "gate webhooks (Flagger's types and meaning)");
  r.object<GitWriteBack>("gitWriteBack", s.git_write_back, decode_git_write_back,
                         "after an automatic abort, revert the template change in Git");
}

// ---- AnalysisTemplate ----

const std::initializer_list<const char*> kVersions = {"canary", "stable", "preview"};

void decode_builtin(ObjectReader& r, BuiltinMetric& m) {
  r.require("metric");
  r.enum_field(
      "metric", m.metric,
      {"request-success-rate", "request-duration-p99", "request-rate", "restarts", "ready-ratio"});
  r.enum_field("version", m.version, kVersions);
  r.duration("window", m.window, kPositive);
}

void decode_prometheus(ObjectReader& r, PrometheusMetric& m) {
  r.require("query");
  r.field("address", m.address, {}, "default: the server's prometheus.address");
  r.field("query", m.query);
  r.duration("timeout", m.timeout, kPositive);
  r.field("tokenFile", m.token_file, {}, "bearer token file");
}

void decode_scrape(ObjectReader& r, ScrapeMetric& m) {
  r.require("metric");
  r.field("metric", m.metric);
  r.enum_field("version", m.version, kVersions);
  r.enum_field("aggregate", m.aggregate, {"value", "sum", "rate"});
  r.field("path", m.path);
  r.field("port", m.port);
}

void decode_web(ObjectReader& r, WebMetric& m) {
  r.require("url");
  r.field("url", m.url);
  r.enum_field("method", m.method, {"GET", "POST"});
  r.field("jsonPath", m.json_path);
  r.list<HttpHeader>("headers", m.headers, decode_header);
  r.field("body", m.body);
  r.duration("timeout", m.timeout, kPositive);
}

void decode_job(ObjectReader& r, JobMetric& m) {
  r.require("command");
  r.field("command", m.command);
  if (!r.schema_mode() && r.has("command") && m.command.empty()) {
    r.error("command", "must not be empty");
  }
  r.duration("timeout", m.timeout, kPositive);
}

void decode_rabbitmq(ObjectReader& r, RabbitmqMetric& m) {
  r.require("url");
  r.require("queue");
  r.field("url", m.url, {}, "management API base URL");
  r.field("vhost", m.vhost);
  r.field("queue", m.queue);
  r.enum_field("field", m.field,
               {"messages_ready", "messages_unacknowledged", "messages", "consumers", "ack_rate",
                "publish_rate"});
  r.field("username", m.username);
  r.field("passwordFile", m.password_file);
}

void decode_kafka(ObjectReader& r, KafkaMetric& m) {
  r.require("bootstrapServers");
  r.require("consumerGroup");
  r.require("topic");
  r.field("bootstrapServers", m.bootstrap_servers, {}, "host:port[,host:port...]");
  r.field("consumerGroup", m.consumer_group);
  r.field("topic", m.topic);
  r.enum_field("metric", m.metric, {"lag", "max-partition-lag", "lag-growth"});
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{
                                       "bootstrapServers", m.bootstrap_servers},
                                   {"consumerGroup", m.consumer_group},
                                   {"topic", m.topic}}) {
    if (!r.schema_mode() && r.has(key) && value.empty()) r.error(key, "must not be empty");
  }
}

void decode_judge(ObjectReader& r, JudgeMetric& m) {
  r.require("metric");
  r.enum_field("metric", m.metric,
               {"request-success-rate", "request-duration-p99", "request-rate"});
  r.enum_field("direction", m.direction, {"increase", "decrease", "either"});
  r.field("allowedIncrease", m.allowed_increase, {1.0, std::nullopt, false});
  r.field("allowedDecrease", m.allowed_decrease, {1.0, std::nullopt, false});
  r.field("critical", m.critical);
  r.duration("window", m.window, kPositive);
  r.field("confidence", m.confidence, {0.5, 0.999, false});
}

struct ProviderHolder {
  std::optional<BuiltinMetric> builtin;
  std::optional<PrometheusMetric> prometheus;
  std::optional<ScrapeMetric> scrape;
  std::optional<WebMetric> web;
  std::optional<JobMetric> job;
  std::optional<RabbitmqMetric> rabbitmq;
  std::optional<KafkaMetric> kafka;
  std::optional<JudgeMetric> judge;
};

void decode_provider(ObjectReader& r, ProviderHolder& p) {
  r.exactly_one({"builtin", "prometheus", "scrape", "web", "job", "rabbitmq", "kafka", "judge"});
  r.object<BuiltinMetric>("builtin", p.builtin, decode_builtin,
                          "router counters and runtime state per version");
  r.object<PrometheusMetric>("prometheus", p.prometheus, decode_prometheus);
  r.object<ScrapeMetric>("scrape", p.scrape, decode_scrape, "the instances' own /metrics");
  r.object<WebMetric>("web", p.web, decode_web);
  r.object<JobMetric>("job", p.job, decode_job, "exit 0 = result 1, else 0");
  r.object<RabbitmqMetric>("rabbitmq", p.rabbitmq, decode_rabbitmq);
  r.object<KafkaMetric>("kafka", p.kafka, decode_kafka, "consumer-group lag (admin API)");
  r.object<JudgeMetric>("judge", p.judge, decode_judge,
                        "statistical canary-vs-stable judge (Mann-Whitney U)");
}

void decode_metric(ObjectReader& r, Metric& m) {
  r.require("name");
  r.require("provider");
  r.field("name", m.name);
  r.duration("initialDelay", m.initial_delay, kNonNegative);
  r.duration("interval", m.interval, kPositive);
  r.field("count", m.count, kAtLeastOne, "absent with interval: until the step/analysis ends");
  r.field("failureLimit", m.failure_limit, {-1, std::nullopt, false}, "-1 disables");
  r.field("inconclusiveLimit", m.inconclusive_limit, {-1, std::nullopt, false});
  r.field("consecutiveErrorLimit", m.consecutive_error_limit, {-1, std::nullopt, false});
  r.field("successCondition", m.success_condition);
  r.field("failureCondition", m.failure_condition);
  r.field("dryRun", m.dry_run);
  ProviderHolder p;
  r.object<ProviderHolder>("provider", p, decode_provider);
  if (p.builtin)
    m.provider = *p.builtin;
  else if (p.prometheus)
    m.provider = *p.prometheus;
  else if (p.scrape)
    m.provider = *p.scrape;
  else if (p.web)
    m.provider = *p.web;
  else if (p.job)
    m.provider = *p.job;
  else if (p.rabbitmq)
    m.provider = *p.rabbitmq;
  else if (p.kafka)
    m.provider = *p.kafka;
  else if (p.judge)
    m.provider = *p.judge;
}

void decode_template_spec(ObjectReader& r, AnalysisTemplateSpec& s) {
  r.require("metrics");
  r.list<AnalysisArg>("args", s.args, decode_arg);
  r.list<Metric>("metrics", s.metrics, decode_metric);
}

void decode_metadata(ObjectReader& r, ObjectMeta& m) {
  r.require("name");
  r.field("name", m.name, {}, "DNS-1123 label, unique per repository and kind");
  r.field("labels", m.labels);
  std::map<std::string, std::string> annotations;
  r.field("annotations", annotations);
}

void decode_header_fields(ObjectReader& r) {
  std::string ignored;
  r.require("apiVersion");
  r.require("kind");
  r.require("metadata");
  r.require("spec");
  if (r.schema_mode()) {
    r.field("apiVersion", ignored);
    r.field("kind", ignored);
  } else {
    r.raw("apiVersion");
    r.raw("kind");
  }
}

}  // namespace

void decode_rollout(ObjectReader& r, Rollout& rollout) {
  decode_header_fields(r);
  r.object<ObjectMeta>("metadata", rollout.metadata, decode_metadata);
  r.object<RolloutSpec>("spec", rollout.spec, decode_rollout_spec);
}

void decode_analysis_template(ObjectReader& r, AnalysisTemplate& templ) {
  decode_header_fields(r);
  r.object<ObjectMeta>("metadata", templ.metadata, decode_metadata);
  r.object<AnalysisTemplateSpec>("spec", templ.spec, decode_template_spec);
}

}  // namespace sluice::manifests
