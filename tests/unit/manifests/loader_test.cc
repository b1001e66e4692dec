#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "manifests/loader.h"

using namespace sluice::manifests;

namespace {

const char* kTemplate = R"Y(apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service}, {name: threshold, value: "0.99"}]
  metrics:
    - name: success-rate
      interval: 5s
      count: 6
      failureLimit: 1
      successCondition: result >= 0.99
      failureCondition: result < 0.90
      provider:
        builtin: {metric: request-success-rate, version: canary, window: 30s}
)Y";

// A minimal valid canary Rollout; tests splice one line in to break it.
std::string rollout(const std::string& spec_extra = "", const std::string& name = "orders-api") {
  return "apiVersion: sluice.dev/v1alpha1\n"
         "kind: Rollout\n"
         "metadata:\n"
         "  name: " +
         name +
         "\n"
         "spec:\n"
         "  replicas: 4\n" +
         spec_extra +
         "  template:\n"
         "    version: \"2.3.1\"\n"
         "    command: [\"./bin/orders-api\", \"--port\", \"$(PORT)\"]\n"
         "    ports:\n"
         "      - {name: http, containerPort: 0}\n"
         "  strategy:\n"
         "    canary:\n"
         "      steps:\n"
         "        - setWeight: 20\n";
}

ManifestSet load(const std::string& text, const std::string& file = "services/orders.yaml") {
  return load_files({{file, text}, {"analysis/success-rate.yaml", kTemplate}});
}

std::vector<std::string> errors(const ManifestSet& set) {
  std::vector<std::string> out;
  for (const auto& d : set.diagnostics) out.push_back(d.to_string());
  return out;
}

// Exactly one diagnostic, returned for inspection.
Diagnostic only_error(const ManifestSet& set) {
  INFO("diagnostics: " << Catch::Detail::stringify(errors(set)));
  REQUIRE(set.diagnostics.size() == 1);
  return set.diagnostics.front();
}

}  // namespace

TEST_CASE("a valid canary Rollout loads with the documented defaults", "[loader]") {
  const ManifestSet set = load(rollout());
  INFO(Catch::Detail::stringify(errors(set)));
  REQUIRE(set.ok());
  REQUIRE(set.rollouts.size() == 1);
  const Rollout& r = set.rollouts[0].rollout;
  CHECK(r.metadata.name == "orders-api");
  CHECK(r.spec.replicas == 4);
  CHECK(r.spec.min_ready_seconds == 0);
  CHECK(r.spec.revision_history_limit == 10);
  CHECK(r.spec.progress_deadline_seconds == 600);
  CHECK_FALSE(r.spec.progress_deadline_abort);
  CHECK_FALSE(r.spec.paused);
  CHECK(r.spec.rollback_window_revisions == 0);
  CHECK(r.spec.template_.working_dir == ".");
  CHECK(r.spec.template_.termination_grace_period == sluice::Duration(30'000));
  CHECK(r.spec.template_.command ==
        std::vector<std::string>{"./bin/orders-api", "--port", "$(PORT)"});
  const auto& canary = std::get<CanaryStrategy>(r.spec.strategy);
  CHECK(canary.max_surge == IntOrPercent{25, true});
  CHECK(canary.max_unavailable == IntOrPercent{0, false});
  CHECK(canary.scale_down_delay == sluice::Duration(30'000));
  CHECK(canary.abort_scale_down_delay == sluice::Duration(30'000));
  CHECK_FALSE(canary.traffic_routing.has_value());
  REQUIRE(canary.steps.size() == 1);
  CHECK(std::get<SetWeightStep>(canary.steps[0]).weight == 20);
}

TEST_CASE("every field of the contract's full Rollout example is decoded", "[loader]") {
  const std::string full = R"Y(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: orders-api
  labels: {team: payments}
spec:
  replicas: 4
  minReadySeconds: 2
  revisionHistoryLimit: 3
  progressDeadlineSeconds: 120
  progressDeadlineAbort: true
  paused: true
  rollbackWindow: {revisions: 2}
  template:
    version: "2.3.1"
    command: ["./bin/orders-api", "--port", "$(PORT)"]
    workingDir: "svc"
    env:
      - {name: LOG_LEVEL, value: info}
    ports:
      - {name: http, containerPort: 0}
      - {name: admin, containerPort: 9000}
    readinessProbe:
      httpGet: {path: /healthz, port: http}
      initialDelaySeconds: 1
      periodSeconds: 0.05
      timeoutSeconds: 2
      successThreshold: 2
      failureThreshold: 4
    livenessProbe: {tcpSocket: {port: admin}}
    startupProbe: {exec: {command: ["./bin/check"]}}
    lifecycle:
      activate:   {httpPost: {path: /admin/activate, port: http}}
      deactivate: {httpPost: {path: /admin/deactivate, port: http}}
      preStop:    {exec: {command: ["./bin/drain"]}}
    terminationGracePeriodSeconds: 10
  service:
    listen: 127.0.0.1:18080
    targetPort: http
  strategy:
    canary:
      maxSurge: 1
      maxUnavailable: 10%
      trafficRouting:
        haproxy: {runtimeApi: /run/haproxy/admin.sock, backend: orders}
      steps:
        - setWeight: 20
        - pause: {duration: 30s}
        - setCanaryScale: {replicas: 2}
        - setCanaryScale: {weight: 50}
        - setCanaryScale: {matchTrafficWeight: true}
        - analysis:
            templates: [{templateName: success-rate}]
            args: [{name: service, value: orders-api}]
        - setHeaderRoute: {name: testers, match: [{headerName: X-Canary, headerValue: {exact: "1"}}]}
        - setWeight: 50
        - pause: {}
        - pause:
      analysis:
        templates: [{templateName: success-rate}]
        args: [{name: service, value: orders-api}]
        startingStep: 1
      scaleDownDelaySeconds: 5
      abortScaleDownDelaySeconds: 0.5
)Y";
  const ManifestSet set = load(full);
  INFO(Catch::Detail::stringify(errors(set)));
  REQUIRE(set.ok());
  const RolloutSpec& s = set.rollouts[0].rollout.spec;
  CHECK(set.rollouts[0].rollout.metadata.labels.at("team") == "payments");
  CHECK(s.min_ready_seconds == 2);
  CHECK(s.revision_history_limit == 3);
  CHECK(s.progress_deadline_seconds == 120);
  CHECK(s.progress_deadline_abort);
  CHECK(s.paused);
  CHECK(s.rollback_window_revisions == 2);
  const PodTemplate& t = s.template_;
  CHECK(t.working_dir == "svc");
  CHECK(t.env == std::vector<EnvVar>{{"LOG_LEVEL", "info"}});
  CHECK(t.ports.size() == 2);
  CHECK(t.ports[1].container_port == 9000);
  REQUIRE(t.readiness_probe);
  CHECK(t.readiness_probe->http_get->path == "/healthz");
  CHECK(t.readiness_probe->initial_delay == sluice::Duration(1000));
  CHECK(t.readiness_probe->period == sluice::Duration(50));
  CHECK(t.readiness_probe->timeout == sluice::Duration(2000));
  CHECK(t.readiness_probe->success_threshold == 2);
  CHECK(t.readiness_probe->failure_threshold == 4);
  CHECK(t.liveness_probe->tcp_socket->port == "admin");
  CHECK(t.startup_probe->exec->command == std::vector<std::string>{"./bin/check"});
  CHECK(t.lifecycle.activate->http_post->path == "/admin/activate");
  CHECK(t.lifecycle.deactivate->http_post->port == "http");
  CHECK(t.lifecycle.pre_stop->exec->command[0] == "./bin/drain");
  CHECK(t.termination_grace_period == sluice::Duration(10'000));
  CHECK(s.service->listen == "127.0.0.1:18080");
  const auto& c = std::get<CanaryStrategy>(s.strategy);
  CHECK(c.max_surge == IntOrPercent{1, false});
  CHECK(c.max_unavailable == IntOrPercent{10, true});
  CHECK(c.traffic_routing->haproxy->backend == "orders");
  REQUIRE(c.steps.size() == 10);
  CHECK(std::get<PauseStep>(c.steps[1]).duration == sluice::Duration(30'000));
  CHECK(std::get<SetCanaryScale>(c.steps[2]).replicas == 2);
  CHECK(std::get<SetCanaryScale>(c.steps[3]).weight == 50);
  CHECK(std::get<SetCanaryScale>(c.steps[4]).match_traffic_weight);
  CHECK(std::get<RolloutAnalysis>(c.steps[5]).templates[0].template_name == "success-rate");
  CHECK(std::get<SetHeaderRoute>(c.steps[6]).match[0].header_value.exact == "1");
  CHECK_FALSE(std::get<PauseStep>(c.steps[8]).duration.has_value());
  CHECK_FALSE(std::get<PauseStep>(c.steps[9]).duration.has_value());
  CHECK(c.analysis->starting_step == 1);
  CHECK(c.scale_down_delay == sluice::Duration(5000));
  CHECK(c.abort_scale_down_delay == sluice::Duration(500));
}

TEST_CASE("blue-green and rolling strategies decode with defaults", "[loader]") {
  const std::string bg = R"Y(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: worker}
spec:
  replicas: 3
  template: {command: [worker]}
  strategy:
    blueGreen:
      autoPromotionEnabled: false
      previewReplicaCount: 1
      prePromotionAnalysis: {templates: [{templateName: success-rate}], args: [{name: service, value: w}]}
)Y";
  ManifestSet set = load(bg);
  INFO(Catch::Detail::stringify(errors(set)));
  REQUIRE(set.ok());
  const auto& b = std::get<BlueGreenStrategy>(set.rollouts[0].rollout.spec.strategy);
  CHECK_FALSE(b.auto_promotion_enabled);
  CHECK(b.preview_replica_count == 1);
  CHECK(b.auto_promotion_seconds == sluice::Duration(0));
  CHECK(b.scale_down_delay == sluice::Duration(30'000));
  CHECK_FALSE(b.preview.has_value());

  set = load(R"Y(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: audit}
spec:
  template: {command: [audit]}
  strategy: {rollingUpdate: {}}
)Y");
  REQUIRE(set.ok());
  const auto& r = std::get<RollingUpdateStrategy>(set.rollouts[0].rollout.spec.strategy);
  CHECK(r.max_surge == IntOrPercent{25, true});
  CHECK(r.max_unavailable == IntOrPercent{0, false});
  CHECK(set.rollouts[0].rollout.spec.replicas == 1);
}

TEST_CASE("AnalysisTemplate providers decode", "[loader]") {
  const ManifestSet set = load_files({{"a.yaml", R"Y(apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: all}
spec:
  metrics:
    - {name: b, provider: {builtin: {metric: restarts}}}
    - {name: p, interval: 10s, provider: {prometheus: {address: "http://127.0.0.1:9090", query: "up", timeout: 2s}}}
    - {name: s, provider: {scrape: {metric: jobs_failed_total, aggregate: rate}}}
    - {name: w, provider: {web: {url: "http://127.0.0.1:9000/stats", jsonPath: "$.errorRate"}}}
    - {name: j, provider: {job: {command: ["./smoke-test.sh"], timeout: 60s}}}
    - {name: r, provider: {rabbitmq: {url: "http://127.0.0.1:15672", queue: orders, field: consumers}}}
    - {name: g, provider: {kafka: {bootstrapServers: "127.0.0.1:9092,[::1]:9093", consumerGroup: orders-stream, topic: orders, metric: max-partition-lag}}}
    - {name: k, dryRun: true, failureLimit: -1, provider: {judge: {metric: request-duration-p99, direction: increase, allowedIncrease: 1.1, critical: true}}}
)Y"}});
  INFO(Catch::Detail::stringify(errors(set)));
  REQUIRE(set.ok());
  const auto& m = set.templates[0].templ.spec.metrics;
  REQUIRE(m.size() == 8);
  CHECK(std::get<BuiltinMetric>(m[0].provider).window == sluice::Duration(30'000));
  CHECK(m[0].consecutive_error_limit == 4);
  CHECK(std::get<PrometheusMetric>(m[1].provider).timeout == sluice::Duration(2000));
  CHECK(m[1].interval == sluice::Duration(10'000));
  CHECK(std::get<ScrapeMetric>(m[2].provider).aggregate == "rate");
  CHECK(std::get<WebMetric>(m[3].provider).json_path == "$.errorRate");
  CHECK(std::get<JobMetric>(m[4].provider).timeout == sluice::Duration(60'000));
  CHECK(std::get<RabbitmqMetric>(m[5].provider).field == "consumers");
  const auto& kafka = std::get<KafkaMetric>(m[6].provider);
  CHECK(kafka.bootstrap_servers == "127.0.0.1:9092,[::1]:9093");
  CHECK(kafka.consumer_group == "orders-stream");
  CHECK(kafka.topic == "orders");
  CHECK(kafka.metric == "max-partition-lag");
  CHECK(std::string(provider_name(m[6].provider)) == "kafka");
  CHECK(std::get<JudgeMetric>(m[7].provider).allowed_increase == Approx(1.1));
  CHECK(m[7].dry_run);
  CHECK(m[7].failure_limit == -1);
  CHECK(std::string(provider_name(m[7].provider)) == "judge");
}

TEST_CASE("errors carry file:line:col, Kind/name and the field path", "[loader][bad-input]") {
  // setWeight: 120 sits on line 15, column 22 of this document.
  std::string text = rollout();
  text.replace(text.find("setWeight: 20"), 13, "setWeight: 120");
  const Diagnostic d = only_error(load(text));
  CHECK(d.to_string() ==
        "services/orders.yaml:15:22: Rollout/orders-api: spec.strategy.canary.steps[0].setWeight: "
        "must be between 0 and 100 (got 120)");
}

TEST_CASE("each bad input gets one clear positioned error", "[loader][bad-input]") {
  struct Case {
    const char* name;
    std::string text;
    const char* field;
    const char* message_part;
  };
  const std::vector<Case> cases = {
      {"wrong type", rollout().replace(rollout().find("replicas: 4"), 11, "replicas: \"four\""),
       "spec.replicas", "must be an integer (got \"four\")"},
      {"negative replicas", rollout().replace(rollout().find("replicas: 4"), 11, "replicas: -1"),
       "spec.replicas", "must be at least 0 (got -1)"},
      {"both strategies", rollout() + "    rollingUpdate: {}\n", "spec.strategy",
       "must set exactly one of rollingUpdate, canary, blueGreen (got rollingUpdate and canary)"},
      {"unknown field", rollout("  replica: 3\n"), "spec.replica",
       "unknown field \"replica\"; did you mean \"replicas\"?"},
      {"unknown kind",
       "apiVersion: sluice.dev/v1alpha1\nkind: Rolout\nmetadata: {name: x}\nspec: {}\n", "kind",
       "did you mean \"Rollout\"?"},
      {"bad apiVersion", rollout().replace(0, 31, "apiVersion: argoproj.io/v1alpha1"), "apiVersion",
       "must be sluice.dev/v1alpha1 (got \"argoproj.io/v1alpha1\")"},
      {"bad name", rollout("", "Orders_API"), "metadata.name", "DNS-1123"},
      {"unknown template",
       rollout().replace(rollout().find("- setWeight: 20"), 15,
                         "- analysis: {templates: [{templateName: nope}]}"),
       "spec.strategy.canary.steps[0].analysis.templates[0].templateName",
       "no AnalysisTemplate named \"nope\""},
      {"workingDir escape",
       rollout().replace(rollout().find("    ports:"), 0, "    workingDir: ../../etc\n"),
       "spec.template.workingDir", "must not climb out"},
      {"probe port unknown",
       rollout().replace(rollout().find("  strategy:"), 0,
                         "  service: {listen: 127.0.0.1:1, targetPort: web}\n"),
       "spec.service.targetPort", "names no port of the template"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const Diagnostic d = only_error(load(c.text));
    CHECK(d.field == c.field);
    CHECK_THAT(d.message, Catch::Contains(c.message_part));
    CHECK(d.pos.file == "services/orders.yaml");
    CHECK(d.pos.line > 0);
    CHECK(d.pos.column > 0);
  }
}

TEST_CASE("probe period below 50ms is refused", "[loader][bad-input]") {
  std::string text = rollout();
  text.replace(text.find("    ports:"), 0,
               "    readinessProbe: {tcpSocket: {port: http}, periodSeconds: 0}\n");
  const Diagnostic d = only_error(load(text));
  CHECK(d.field == "spec.template.readinessProbe.periodSeconds");
  CHECK(d.message == "must be at least 0.05 (got 0)");
}

TEST_CASE("no strategy is an error", "[loader][bad-input]") {
  std::string text = rollout();
  text = text.substr(0, text.find("  strategy:")) + "  strategy: {}\n";
  const Diagnostic d = only_error(load(text));
  CHECK(d.field == "spec.strategy");
  CHECK_THAT(d.message, Catch::Contains("got none"));
}

TEST_CASE("YAML syntax errors, tabs and duplicate keys", "[loader][bad-input]") {
  Diagnostic d = only_error(load("apiVersion: sluice.dev/v1alpha1\nkind: [Rollout\n"));
  CHECK_THAT(d.message, Catch::StartsWith("YAML syntax error"));
  CHECK(d.pos.line >= 2);

  d = only_error(load("apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nspec:\n\treplicas: 1\n"));
  CHECK(d.pos.line == 4);
  CHECK_THAT(d.message, Catch::Contains("tab character in indentation"));

  std::string dup = rollout();
  dup.replace(dup.find("  replicas: 4\n"), 0, "  replicas: 2\n");
  d = only_error(load(dup));
  CHECK(d.field == "spec.replicas");
  CHECK_THAT(d.message, Catch::Contains("duplicate key"));
  CHECK(d.pos.line == 7);
}

TEST_CASE("documents yaml-cpp would never finish parsing are refused", "[loader][bad-input]") {
  // yaml-cpp 0.7 loops forever on a leading flow entry; found by manifests_loader_fuzz.
  for (const std::string text :
       {", ", ",", "# comment\n  , a", "!!str ,", "!,", "&a,", "a: 1\n---\n,"}) {
    INFO(text);
    const Diagnostic d = only_error(load(text));
    CHECK_THAT(d.message, Catch::Contains("may not start with ','"));
    CHECK(d.pos.line >= 1);
  }
  for (const std::string text : {"'',", "'' ,", "\"x\",", "''\n,", "[a] ,", "{a: 1},", "&a '',"}) {
    INFO(text);
    const Diagnostic d = only_error(load(text));
    CHECK_THAT(d.message, Catch::Contains("must be a"));
  }
  // Quoted keys at the top are fine.
  std::string quoted = rollout();
  quoted.replace(0, 10, "'apiVersion'");
  CHECK(load(quoted).ok());
}

TEST_CASE("empty, non-UTF-8 and oversized files", "[loader][bad-input]") {
  Diagnostic d = only_error(load(""));
  CHECK_THAT(d.message, Catch::Contains("no YAML documents"));
  CHECK(d.pos.file == "services/orders.yaml");

  d = only_error(load("apiVersion: sluice.dev/v1alpha1\nkind: \xff\xfeRollout\n"));
  CHECK_THAT(d.message, Catch::Contains("not valid UTF-8"));
  CHECK(d.pos.line == 2);
  CHECK(d.pos.column == 7);

  d = only_error(load(std::string("a: 1\nb: \0,\0", 11)));
  CHECK_THAT(d.message, Catch::Contains("byte 0x00"));
  CHECK(d.pos.line == 2);
  CHECK(d.pos.column == 4);

  std::string big(50u * 1024 * 1024, '#');
  d = only_error(load(big));
  CHECK_THAT(d.message, Catch::Contains("the limit is"));
}

TEST_CASE("deep nesting and alias bombs are bounded", "[loader][bad-input]") {
  std::string flow = "a: " + std::string(10'000, '[') + std::string(10'000, ']') + "\n";
  Diagnostic d = only_error(load(flow));
  CHECK_THAT(d.message, Catch::Contains("nesting is deeper than"));

  std::string block;
  for (int i = 0; i < 10'000; ++i) block += "- ";
  block += "x\n";
  d = only_error(load(block));
  CHECK_THAT(d.message, Catch::Contains("nesting is deeper than"));

  std::string indented;
  for (int i = 0; i < 10'000; ++i) indented += std::string(static_cast<size_t>(i), ' ') + "k:\n";
  d = only_error(load(indented.substr(0, 4 * 1024 * 1024 - 1)));
  CHECK_THAT(d.message, Catch::Contains("nesting is deeper than"));

  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    laughs += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) laughs += std::string(i ? ", *" : "*") + prev;
    laughs += "]\n";
    prev = c;
  }
  d = only_error(load("apiVersion: sluice.dev/v1alpha1\nkind: Rollout\n" + laughs));
  CHECK_THAT(d.message, Catch::Contains("aliases are expanded"));
}

TEST_CASE("duplicate names across files point at the first definition", "[loader][bad-input]") {
  const ManifestSet set = load_files({{"a.yaml", rollout()}, {"b.yaml", rollout()}});
  const Diagnostic d = only_error(set);
  CHECK(d.pos.file == "b.yaml");
  CHECK(d.field == "metadata.name");
  CHECK_THAT(d.message, Catch::Contains("first defined at a.yaml:4:9"));
}

TEST_CASE("a condition that does not parse is a lint error", "[loader][bad-input]") {
  std::string bad = kTemplate;
  bad.replace(bad.find("result >= 0.99"), 14, "result >= = 0.99");
  const ManifestSet set = load_files({{"t.yaml", bad}});
  const Diagnostic d = only_error(set);
  CHECK(d.field == "spec.metrics[0].successCondition");
  CHECK(d.kind == "AnalysisTemplate");
  CHECK(d.pos.line == 11);
}

TEST_CASE("multiple documents per file, null documents skipped, sorted output", "[loader]") {
  const std::string two = rollout("", "zeta") + "---\n---\n" + rollout("", "alpha");
  const ManifestSet set = load(two);
  INFO(Catch::Detail::stringify(errors(set)));
  REQUIRE(set.ok());
  REQUIRE(set.rollouts.size() == 2);
  CHECK(set.rollouts[0].rollout.metadata.name == "alpha");
  CHECK(set.rollouts[0].origin.document_index == 2);
  CHECK(set.rollouts[1].origin.pos.line == 1);
  CHECK(set.find_rollout("zeta") != nullptr);
  CHECK(set.find_template("success-rate") != nullptr);
}

TEST_CASE("required template args must be supplied", "[loader][bad-input]") {
  std::string text = rollout();
  text.replace(text.find("- setWeight: 20"), 15,
               "- analysis: {templates: [{templateName: success-rate}]}");
  const Diagnostic d = only_error(load(text));
  CHECK_THAT(d.message, Catch::Contains("needs argument \"service\""));
}

TEST_CASE("positions are recorded per field path", "[loader]") {
  const ManifestSet set = load(rollout());
  REQUIRE(set.ok());
  const DocumentOrigin& o = set.rollouts[0].origin;
  const SourcePos p = o.find("spec.strategy.canary.steps[0].setWeight");
  CHECK(p.line == 15);
  CHECK(p.column == 22);
  // An unknown path falls back to the nearest recorded ancestor.
  CHECK(o.find("spec.template.command[7]").line == 9);
}

TEST_CASE("IntOrPercent rounds like Kubernetes", "[types]") {
  CHECK(IntOrPercent{25, true}.resolve(4, true) == 1);
  CHECK(IntOrPercent{25, true}.resolve(5, true) == 2);
  CHECK(IntOrPercent{25, true}.resolve(5, false) == 1);
  CHECK(IntOrPercent{3, false}.resolve(10, true) == 3);
  CHECK(IntOrPercent{10, true}.to_string() == "10%");
}
