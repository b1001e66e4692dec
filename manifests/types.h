// Typed model of the manifest contract (../shared/reference/manifest.md,
// docs/manifest-reference.md).
//
// Field names mirror the YAML (camelCase there, snake_case here). Defaults written here are the
// documented defaults; the loader leaves a field at its default when the YAML omits it.
// Source positions are kept per field path in Document::positions ("spec.replicas" ->
// file:line:col) so that every later error (validation, controller) can point at the exact place.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/clock.h"

namespace sluice::manifests {

inline constexpr const char* kApiVersion = "sluice.dev/v1alpha1";

struct SourcePos {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based
  bool known() const { return line > 0; }
};

// An int or a percentage ("25%"), as Kubernetes' IntOrString for maxSurge/maxUnavailable.
struct IntOrPercent {
  int value = 0;
  bool percent = false;
  // Resolves against total. Percentages round up when round_up (surge), else down (unavailable).
  int resolve(int total, bool round_up) const;
  std::string to_string() const;
  bool operator==(const IntOrPercent&) const = default;
};

struct EnvVar {
  std::string name;
  std::string value;
  bool operator==(const EnvVar&) const = default;
};

struct ContainerPort {
  std::string name;
  int container_port = 0;  // 0 = allocate a free loopback port per instance
  bool operator==(const ContainerPort&) const = default;
};

// A port reference: a named port of the template ("http") or a number ("8080").
using PortRef = std::string;

struct HttpHeader {
  std::string name;
  std::string value;
  bool operator==(const HttpHeader&) const = default;
};

struct HttpGetAction {
  std::string path = "/";
  PortRef port;
  std::string host = "127.0.0.1";
  std::vector<HttpHeader> http_headers;
  bool operator==(const HttpGetAction&) const = default;
};

struct TcpSocketAction {
  PortRef port;
  bool operator==(const TcpSocketAction&) const = default;
};

struct ExecAction {
  std::vector<std::string> command;  // argv, never a shell
  bool operator==(const ExecAction&) const = default;
};

struct Probe {
  // Exactly one handler is set when the probe is defined; none = probe absent ({}).
  std::optional<HttpGetAction> http_get;
  std::optional<TcpSocketAction> tcp_socket;
  std::optional<ExecAction> exec;
  Duration initial_delay{0};
  Duration period{1000};   // >= 50ms
  Duration timeout{1000};  // > 0
  int success_threshold = 1;
  int failure_threshold = 3;

  bool defined() const { return http_get || tcp_socket || exec; }
  bool operator==(const Probe&) const = default;
};

// A lifecycle hook: httpPost or exec.
struct LifecycleHandler {
  std::optional<HttpGetAction> http_post;  // same shape as httpGet, sent as POST
  std::optional<ExecAction> exec;
  Duration timeout{30'000};
  bool defined() const { return http_post || exec; }
  bool operator==(const LifecycleHandler&) const = default;
};

struct Lifecycle {
  std::optional<LifecycleHandler> activate;    // start consuming
  std::optional<LifecycleHandler> deactivate;  // stop consuming, finish in-flight, ack
  std::optional<LifecycleHandler> pre_stop;
  bool operator==(const Lifecycle&) const = default;
};

// `template`: any change here starts a new revision.
struct PodTemplate {
  std::string version;
  std::vector<std::string> command;
  std::string working_dir = ".";
  std::vector<EnvVar> env;
  std::vector<ContainerPort> ports;
  std::optional<Probe> readiness_probe;
  std::optional<Probe> liveness_probe;
  std::optional<Probe> startup_probe;
  Lifecycle lifecycle;
  Duration termination_grace_period{30'000};
  bool operator==(const PodTemplate&) const = default;
};

struct ServiceSpec {
  std::string listen;  // host:port, loopback in tests
  PortRef target_port = "http";
  bool operator==(const ServiceSpec&) const = default;
};

struct RollingUpdateStrategy {
  IntOrPercent max_surge{25, true};
  IntOrPercent max_unavailable{0, false};
  bool operator==(const RollingUpdateStrategy&) const = default;
};

struct AnalysisTemplateRef {
  std::string template_name;
  bool operator==(const AnalysisTemplateRef&) const = default;
};

struct AnalysisArg {
  std::string name;
  std::optional<std::string> value;  // absent in a template = required from the Rollout
  bool operator==(const AnalysisArg&) const = default;
};

struct RolloutAnalysis {
  std::vector<AnalysisTemplateRef> templates;
  std::vector<AnalysisArg> args;
  int starting_step = 0;  // background canary analysis only
  bool operator==(const RolloutAnalysis&) const = default;
};

struct StringMatch {
  std::optional<std::string> exact;
  std::optional<std::string> prefix;
  std::optional<std::string> regex;
  bool operator==(const StringMatch&) const = default;
};

struct HeaderRouteMatch {
  std::string header_name;
  StringMatch header_value;
  bool operator==(const HeaderRouteMatch&) const = default;
};

struct SetHeaderRoute {
  std::string name;
  std::vector<HeaderRouteMatch> match;  // empty = remove the route
  bool operator==(const SetHeaderRoute&) const = default;
};

struct SetCanaryScale {
  std::optional<int> replicas;
  std::optional<int> weight;  // percent of spec.replicas
  bool match_traffic_weight = false;
  bool operator==(const SetCanaryScale&) const = default;
};

struct PauseStep {
  std::optional<Duration> duration;  // absent = wait for promote
  bool operator==(const PauseStep&) const = default;
};

struct SetWeightStep {
  int weight = 0;
  bool operator==(const SetWeightStep&) const = default;
};

using CanaryStep =
    std::variant<SetWeightStep, PauseStep, SetCanaryScale, RolloutAnalysis, SetHeaderRoute>;

struct HaproxyRouting {
  std::string runtime_api;  // path to the admin socket
  std::string backend;
  bool operator==(const HaproxyRouting&) const = default;
};

struct TrafficRouting {
  bool builtin = false;
  std::optional<HaproxyRouting> haproxy;
  bool operator==(const TrafficRouting&) const = default;
};

struct CanaryStrategy {
  IntOrPercent max_surge{25, true};
  IntOrPercent max_unavailable{0, false};
  std::optional<TrafficRouting> traffic_routing;  // absent: weight approximated by replica counts
  std::vector<CanaryStep> steps;
  std::optional<RolloutAnalysis> analysis;  // background analysis
  Duration scale_down_delay{30'000};
  Duration abort_scale_down_delay{30'000};
  bool operator==(const CanaryStrategy&) const = default;
};

struct PreviewService {
  std::string listen;
  bool operator==(const PreviewService&) const = default;
};

struct BlueGreenStrategy {
  std::optional<PreviewService> preview;
  bool auto_promotion_enabled = true;
  Duration auto_promotion_seconds{0};
  int preview_replica_count = 0;  // 0 = full size
  std::optional<RolloutAnalysis> pre_promotion_analysis;
  std::optional<RolloutAnalysis> post_promotion_analysis;
  Duration scale_down_delay{30'000};
  Duration abort_scale_down_delay{30'000};
  bool operator==(const BlueGreenStrategy&) const = default;
};

enum class StrategyKind { kRollingUpdate, kCanary, kBlueGreen };
const char* strategy_kind_name(StrategyKind kind);  // "rollingUpdate" | "canary" | "blueGreen"

// Exactly one alternative, enforced by the loader.
using Strategy = std::variant<RollingUpdateStrategy, CanaryStrategy, BlueGreenStrategy>;
inline StrategyKind strategy_kind(const Strategy& s) {
  return static_cast<StrategyKind>(s.index());
}

struct ObjectMeta {
  std::string name;
  std::map<std::string, std::string> labels;
  bool operator==(const ObjectMeta&) const = default;
};

// A gate webhook (Flagger's webhooks, spec.webhooks): an HTTP POST Sluice makes at a point of
// the rollout; the type says when, and what the answer does (docs/notifications.md, Gate
// webhooks). The url may carry a token: it never reaches logs, events or the API.
struct Webhook {
  std::string name;  // unique per Rollout
  // confirm-rollout | pre-rollout | rollout | confirm-promotion | post-rollout | rollback | event
  std::string type;
  std::string url;                             // http:// or https://
  Duration timeout{10'000};                    // Flagger's default
  Duration interval{10'000};                   // polled types and `rollout`: time between calls
  int failure_limit = 0;                       // `rollout`: failed calls tolerated (Argo's)
  std::map<std::string, std::string> metadata;  // passed through in the POST body
  bool operator==(const Webhook&) const = default;
};

// spec.gitWriteBack (docs/notifications.md, "Git write-back"): after an automatic abort, commit
// a revert of the bad revision's template change and push it. Unset: the server's default
// (`gitWriteBack.onAbort` in `sluice serve --config`, itself "none" unless set).
struct GitWriteBack {
  std::string on_abort = "none";  // revert | none
  bool operator==(const GitWriteBack&) const = default;
};

struct RolloutSpec {
  int replicas = 1;
  int min_ready_seconds = 0;
  int revision_history_limit = 10;
  int progress_deadline_seconds = 600;
  bool progress_deadline_abort = false;
  bool paused = false;
  int rollback_window_revisions = 0;  // 0 = no fast-track rollback
  PodTemplate template_;
  std::optional<ServiceSpec> service;
  Strategy strategy = RollingUpdateStrategy{};
  bool prune = true;  // false: a Rollout removed from Git keeps running, orphaned and visible
  std::vector<Webhook> webhooks;  // gate webhooks, in manifest order
  std::optional<GitWriteBack> git_write_back;
  bool operator==(const RolloutSpec&) const = default;
};

struct Rollout {
  ObjectMeta metadata;
  RolloutSpec spec;
  bool operator==(const Rollout&) const = default;
};

// ---- AnalysisTemplate ----

struct BuiltinMetric {
  // request-success-rate | request-duration-p99 | request-rate | restarts | ready-ratio
  std::string metric;
  std::string version = "canary";  // canary | stable | preview
  Duration window{30'000};
  bool operator==(const BuiltinMetric&) const = default;
};

struct PrometheusMetric {
  std::string address;  // empty = the server's configured default
  std::string query;
  Duration timeout{5000};
  std::optional<std::string> token_file;  // bearer token, read at query time, never logged
  bool operator==(const PrometheusMetric&) const = default;
};

struct ScrapeMetric {
  std::string metric;
  std::string version = "canary";
  std::string aggregate = "sum";  // value | sum | rate
  std::string path = "/metrics";
  PortRef port = "http";
  bool operator==(const ScrapeMetric&) const = default;
};

struct WebMetric {
  std::string url;
  std::string method = "GET";  // GET | POST
  std::string json_path;       // $.a.b[0]
  std::vector<HttpHeader> headers;
  std::optional<std::string> body;
  Duration timeout{5000};
  bool operator==(const WebMetric&) const = default;
};

struct JobMetric {
  std::vector<std::string> command;
  Duration timeout{60'000};
  bool operator==(const JobMetric&) const = default;
};

struct RabbitmqMetric {
  std::string url;  // management API, e.g. http://127.0.0.1:15672
  std::string vhost = "/";
  std::string queue;
  // messages_ready | messages_unacknowledged | messages | consumers | ack_rate | publish_rate
  std::string field = "messages_ready";
  std::string username = "guest";
  std::optional<std::string> password_file;  // default password "guest" when absent
  bool operator==(const RabbitmqMetric&) const = default;
};

// Consumer-group lag read through the Kafka admin API (healthcheck/analysis/providers/
// kafka_provider.cc).
struct KafkaMetric {
  std::string bootstrap_servers;  // "host:port[,host:port...]"
  std::string consumer_group;
  std::string topic;
  // lag | max-partition-lag | lag-growth (messages per second; > 0: the group falls behind)
  std::string metric = "lag";
  bool operator==(const KafkaMetric&) const = default;
};

struct JudgeMetric {
  std::string metric;                  // builtin metric name compared canary vs stable
  std::string direction = "increase";  // increase | decrease | either
  double allowed_increase = 1.0;       // ratio of canary to stable estimate
  double allowed_decrease = 1.0;
  bool critical = false;
  Duration window{30'000};
  double confidence = 0.95;
  bool operator==(const JudgeMetric&) const = default;
};

using MetricProvider = std::variant<BuiltinMetric, PrometheusMetric, ScrapeMetric, WebMetric,
                                    JobMetric, RabbitmqMetric, KafkaMetric, JudgeMetric>;
// "builtin" | "prometheus" | "scrape" | "web" | "job" | "rabbitmq" | "kafka" | "judge"
const char* provider_name(const MetricProvider& provider);

struct Metric {
  std::string name;
  Duration initial_delay{0};
  std::optional<Duration> interval;
  std::optional<int> count;  // absent with interval: until the step/analysis ends
  int failure_limit = 0;     // -1 disables
  int inconclusive_limit = 0;
  int consecutive_error_limit = 4;
  std::string success_condition;  // empty = none
  std::string failure_condition;
  bool dry_run = false;
  MetricProvider provider = BuiltinMetric{};
  bool operator==(const Metric&) const = default;
};

struct AnalysisTemplateSpec {
  std::vector<AnalysisArg> args;
  std::vector<Metric> metrics;
  bool operator==(const AnalysisTemplateSpec&) const = default;
};

struct AnalysisTemplate {
  ObjectMeta metadata;
  AnalysisTemplateSpec spec;
  bool operator==(const AnalysisTemplate&) const = default;
};

// ---- Documents and sets ----

// Where a document came from, and where each of its fields is.
struct DocumentOrigin {
  std::string file;  // path relative to the loaded root
  int document_index = 0;
  SourcePos pos;  // the document start
  // Field path ("spec.strategy.canary.steps[2].setWeight") -> position of its value.
  std::unordered_map<std::string, SourcePos> positions;
  // Returns the position of path, or of its nearest ancestor that has one.
  SourcePos find(const std::string& path) const;
  // A canary step that fails to decode is left out of the model, so the model's step i may be a
  // later step of the file. This holds the file's index of each decoded step (empty: the same).
  std::vector<size_t> canary_step_sources;
  // "spec.strategy.canary.steps[N]" with N the file's index of the model's step model_index.
  std::string canary_step_path(size_t model_index) const;
};

// One validation problem, printed as `file:line:col: Kind/name: field.path: message`.
struct Diagnostic {
  SourcePos pos;
  std::string kind;   // "Rollout", "AnalysisTemplate", or "" when unknown
  std::string name;   // metadata.name, or "" when unknown
  std::string field;  // field path, or "" for document-level problems
  std::string message;
  std::string to_string() const;
  bool operator<(const Diagnostic& other) const;
};

struct LoadedRollout {
  Rollout rollout;
  DocumentOrigin origin;
};

struct LoadedAnalysisTemplate {
  AnalysisTemplate templ;
  DocumentOrigin origin;
};

// Everything found under a manifests root. Valid only when diagnostics is empty.
struct ManifestSet {
  std::vector<LoadedRollout> rollouts;            // sorted by name
  std::vector<LoadedAnalysisTemplate> templates;  // sorted by name
  std::vector<Diagnostic> diagnostics;            // sorted
  // Files refused because the YAML parse guard's child hung or died on them. The verdict may be
  // the machine's (overload), not the file's: caches must not keep such results.
  size_t unguarded_files = 0;
  bool ok() const { return diagnostics.empty(); }
  const LoadedRollout* find_rollout(const std::string& name) const;
  const LoadedAnalysisTemplate* find_template(const std::string& name) const;
};

}  // namespace sluice::manifests
