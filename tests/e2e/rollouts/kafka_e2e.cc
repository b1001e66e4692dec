#include "tests/e2e/rollouts/kafka_e2e.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "tests/support/paths/paths.h"

namespace sluice::testing {

using namespace std::chrono_literals;

Result<KafkaCase> create_kafka_case(KafkaBroker& broker, const std::string& prefix,
                                    int partitions) {
  KafkaCase c{broker.bootstrap_servers(), prefix + "-orders", prefix + "-processed",
              prefix + "-stream"};
  if (Status s = broker.create_topic(c.input, partitions); !s) return s;
  if (Status s = broker.create_topic(c.output, 2); !s) return s;
  return c;
}

void install_orders_stream(const E2eEnv& env) {
  std::filesystem::copy_file(sluice::test::bin_dir() + "/orders-stream",
                             env.repo() + "/bin/orders-stream",
                             std::filesystem::copy_options::overwrite_existing);
}

std::string stream_manifest(const E2eEnv& env, const KafkaCase& kafka, const StreamRollout& r) {
  // Blue-green: started inactive, Sluice activates the instances of the version it switches to.
  // deactivate's timeout stays above orders-stream's own drain limit, so a slow drain answers
  // 504 (a failed hook) rather than being cut short.
  const std::string mode = r.hand_over ? R"YAML(    lifecycle:
      activate: {httpPost: {path: /admin/activate, port: http}}
      deactivate: {httpPost: {path: /admin/deactivate, port: http}, timeoutSeconds: 30}
)YAML"
                                       : "";
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: {0}}}
spec:
  replicas: {1}
  template:
    version: "{2}"
    command: ["bin/orders-stream", "--port", "$(PORT)", "--version", "{2}", "--topic", "{3}",
              "--output-topic", "{4}", "--group", "{5}", "--fail-rate", "{6}",
              "--deactivate-timeout-ms", "20000"{7}]
    env:
      - {{name: KAFKA_BOOTSTRAP_SERVERS, value: "{8}"}}
      - {{name: SLUICE_E2E_MARKER, value: "{9}"}}
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
{10}    terminationGracePeriodSeconds: 30
  strategy:
{11}
{12})YAML",
                     r.name, r.replicas, r.version, kafka.input, kafka.output, kafka.group,
                     r.fail_rate, r.hand_over ? "" : ", \"--start-active\"", kafka.brokers,
                     env.marker_value(), mode, r.strategy,
                     r.templates.empty() ? "" : "---\n" + r.templates);
}

KafkaLoad::KafkaLoad(const std::string& dir, const KafkaCase& kafka, int rate, int64_t count,
                     int64_t start_seq) {
  out_ = dir + "/kafka-load-" + kafka.input + ".json";
  auto child = ChildProcess::spawn(
      {sluice::test::bin_dir() + "/orders-load", "--kafka-brokers", kafka.brokers, "--topic",
       kafka.input, "--rate", std::to_string(rate), "--count", std::to_string(count), "--start-seq",
       std::to_string(start_seq), "--output", "json"},
      {}, out_, dir + "/kafka-load-" + kafka.input + ".log");
  started_ms_ = unix_now_ms();
  if (!child) throw std::runtime_error(child.status().message());
  process_ = std::move(child).value();
}

bool KafkaLoad::running() { return process_ && !process_->wait_exit(0ms); }

Result<nlohmann::json> KafkaLoad::wait(std::chrono::milliseconds timeout) {
  const std::optional<int> code = process_->wait_exit(timeout);
  if (!code) return Status(StatusCode::kDeadlineExceeded, "orders-load did not finish in time");
  if (finished_ms_ == 0) finished_ms_ = unix_now_ms();
  std::stringstream text;
  text << std::ifstream(out_).rdbuf();
  auto summary = nlohmann::json::parse(text.str(), nullptr, false);
  if (*code != 0 || !summary.is_object()) {
    return unavailable(fmt::format("orders-load exited with {}: {}", *code, text.str()));
  }
  return summary;
}

std::pair<int, int> RolloutTrace::replicas_at_step(int step) const {
  std::pair<int, int> seen{-1, -1};
  for (const Change& c : changes) {
    if (c.step == step) seen = {c.canary_replicas, c.stable_replicas};
  }
  return seen;
}

std::string RolloutTrace::text() const {
  std::string out;
  const int64_t origin = changes.empty() ? 0 : changes.front().at_ms;
  for (const Change& c : changes) {
    out += fmt::format("  +{} ms: step {} {} canary {} stable {}\n", c.at_ms - origin, c.step,
                       c.phase, c.canary_replicas, c.stable_replicas);
  }
  return out + fmt::format("  most instances at once: {} serving, {} processes\n", most_serving,
                           most_instances);
}

bool at_commit(const nlohmann::json& rollout, const std::string& sha) {
  return rollout.is_object() && rollout.contains("desired") && rollout["desired"].is_object() &&
         rollout["desired"].value("commit", "").rfind(sha.substr(0, 12), 0) == 0;
}

bool watch_rollout(E2eEnv& env, const std::string& name,
                   const std::function<bool(const nlohmann::json&)>& done,
                   std::chrono::milliseconds timeout, RolloutTrace& trace) {
  auto replicas_of = [](const nlohmann::json& r, const char* side) {
    return r.contains(side) && r[side].is_object() ? r[side].value("replicas", 0) : 0;
  };
  return poll_until(
      [&] {
        trace.most_instances = std::max(trace.most_instances, env.instance_pids().size());
        const nlohmann::json r = env.rollout(name);
        if (!r.is_object()) return false;
        trace.last = r;
        size_t serving = 0;
        for (const auto& instance : r.value("instances", nlohmann::json::array())) {
          serving += instance.value("terminating", false) ? 0 : 1;
        }
        trace.most_serving = std::max(trace.most_serving, serving);
        RolloutTrace::Change c{unix_now_ms(), r.value("currentStepIndex", -1), r.value("phase", ""),
                               replicas_of(r, "canary"), replicas_of(r, "stable")};
        if (trace.changes.empty() || trace.changes.back().step != c.step ||
            trace.changes.back().phase != c.phase ||
            trace.changes.back().canary_replicas != c.canary_replicas ||
            trace.changes.back().stable_replicas != c.stable_replicas) {
          trace.changes.push_back(c);
        }
        return done(r);
      },
      timeout);
}

Result<std::vector<ProcessedRecord>> drain_and_read(const KafkaCase& kafka,
                                                    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto reader = GroupLagReader::open(kafka.brokers, kafka.group, kafka.input);
  if (!reader) return reader.status();
  Result<int64_t> lag = unavailable("not measured");
  const bool drained = poll_until(
      [&] {
        lag = (*reader)->lag(2s);
        return lag && *lag == 0;
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                            std::chrono::steady_clock::now()));
  if (!drained) {
    return Status(StatusCode::kDeadlineExceeded,
                  "group " + kafka.group + " did not commit everything in time (lag: " +
                      (lag ? std::to_string(*lag) : lag.status().message()) + ")");
  }
  return read_processed(kafka.brokers, kafka.output, 60s);
}

}  // namespace sluice::testing
