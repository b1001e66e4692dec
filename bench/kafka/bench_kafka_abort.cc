// bench_kafka_abort: how fast the gates stop a bad consumer version (issue 18). A replica-ratio
// canary (2 replicas, setWeight 50) whose new version fails 30% of its processing attempts,
// under a steady 2,000 messages/s, gated by the same scrape gate (the failure counter's rate on
// the canary's own /metrics, every 500 ms, failureLimit 0):
//   sluice: orders-stream on a real Kafka broker (failed_total);
//   peer:   orders-worker on a real RabbitMQ (worker_messages_failed_total), the consumer Sluice
//           already rolled out before Kafka: the same controller, gate and rate, so the ratio
//           shows what the Kafka consumer adds to the time to abort.
// Each run measures the time from the bad version's first failed message (its counter seen
// above 0 on its /metrics, polled every ~20 ms) to the abort (the rollout seen aborted). Prints
// the configuration, both medians and their ratio. Loopback only; bounded (about 3 minutes).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/kafka_e2e.h"
#include "tests/support/rabbitmq/amqp_test_client.h"
#include "tests/support/rabbitmq/rabbitmq_broker.h"

namespace {

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using sluice::Result;
using sluice::Status;
using sluice::unavailable;

constexpr int kRuns = 3;
constexpr int kRate = 2'000;
constexpr int kReplicas = 2;

const char* kStrategy = R"YAML(    canary:
      maxSurge: 1
      maxUnavailable: 0
      analysis:
        templates: [{templateName: no-failures}]
      steps: [{setWeight: 50}, {pause: {duration: 60s}}])YAML";

std::string gate(const std::string& metric) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {{name: no-failures}}
spec:
  metrics:
    - name: failures
      interval: 500ms
      failureLimit: 0
      successCondition: result == 0
      provider:
        scrape: {{metric: {0}, version: canary, aggregate: rate, port: http}}
)YAML",
                     metric);
}

std::string worker_manifest(const E2eEnv& env, const RabbitBroker& broker, const std::string& queue,
                            const std::string& version, double fail_rate) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: stream}}
spec:
  replicas: {0}
  template:
    version: "{1}"
    command: ["bin/orders-worker", "--port", "$(PORT)", "--queue", "{2}", "--prefetch", "10",
              "--version", "{1}", "--start-active", "--fail-rate", "{3}", "--fail-mode", "requeue"]
    env:
      - {{name: AMQP_URL, value: "{4}"}}
      - {{name: SLUICE_E2E_MARKER, value: "{5}"}}
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 10
  strategy:
{6}
---
{7})YAML",
                     kReplicas, version, queue, fail_rate, broker.amqp_url(), env.marker_value(),
                     kStrategy, gate("worker_messages_failed_total"));
}

// Brings `v1` up, then commits `v2` (the bad version) and measures first failure -> abort, in ms.
// `failed_metric` is the bad version's counter on its /metrics.
Result<double> first_failure_to_abort(E2eEnv& env, const std::string& v1, const std::string& v2,
                                      const std::string& failed_metric,
                                      const std::function<void()>& start_load) {
  env.write("stream.yaml", v1);
  const std::string sha1 = env.commit("1.0.0");
  std::string why;
  if (!env.start_serve(why)) return unavailable(why);
  auto up = env.cli({"status", "stream", "--wait", "--revision", sha1, "--timeout", "60s"});
  if (up.exit_code != 0) return unavailable("1.0.0 not healthy: " + up.out + up.err);
  start_load();
  std::this_thread::sleep_for(2s);
  env.write("stream.yaml", v2);
  const std::string sha2 = env.commit("2.0.0 (bad)");
  int64_t first_failure_ms = 0, abort_ms = 0;
  poll_until(
      [&] {
        if (first_failure_ms == 0) {
          for (int port : env.instance_ports("2.0.0")) {
            auto m = http(port, "GET", "/metrics");
            if (m.is_ok() && metric_value(m->body, failed_metric).value_or(0) > 0) {
              first_failure_ms = unix_now_ms();
            }
          }
        }
        const json r = env.rollout("stream");
        if (at_commit(r, sha2) && r.value("aborted", false)) abort_ms = unix_now_ms();
        return abort_ms != 0;
      },
      90s);
  if (abort_ms == 0) return unavailable("2.0.0 was not aborted within 90 s");
  if (first_failure_ms == 0) return unavailable("no failure of 2.0.0 was seen before the abort");
  return static_cast<double>(abort_ms - first_failure_ms);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::string list(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += fmt::format(" {:.0f}", x);
  return out;
}

}  // namespace

int main() {
  std::printf(
      "time from a bad consumer version's first failed message to the abort\n"
      "config: canary %d replicas, setWeight 50, bad version fails 30%% of attempts, %d msg/s,\n"
      "        gate: scrape failure-counter rate every 500 ms, failureLimit 0; %d runs each\n",
      kReplicas, kRate, kRuns);
  KafkaBrokerOptions kafka_options;
  kafka_options.num_partitions = 4;
  auto kafka = KafkaBroker::start(kafka_options);
  if (!kafka) {
    std::printf("kafka broker: %s\n", kafka.status().message().c_str());
    return 1;
  }
  auto rabbit = RabbitBroker::start();
  if (!rabbit) {
    std::printf("rabbitmq broker: %s\n", rabbit.status().message().c_str());
    return 1;
  }

  std::vector<double> sluice_ms, peer_ms;
  for (int run = 0; run < kRuns; ++run) {
    {
      auto c = create_kafka_case(**kafka, "abort" + std::to_string(run), 4);
      if (!c) return std::printf("topics: %s\n", c.status().message().c_str()), 1;
      E2eEnv env;
      install_orders_stream(env);
      StreamRollout r{.version = "1.0.0",
                      .replicas = kReplicas,
                      .strategy = kStrategy,
                      .templates = gate("failed_total")};
      const std::string v1 = stream_manifest(env, *c, r);
      r.version = "2.0.0";
      r.fail_rate = 0.3;
      std::unique_ptr<KafkaLoad> load;
      auto ms = first_failure_to_abort(env, v1, stream_manifest(env, *c, r), "failed_total", [&] {
        load = std::make_unique<KafkaLoad>(env.dir(), *c, kRate, 1'000'000);
      });
      if (!ms) return std::printf("sluice run %d: %s\n", run, ms.status().message().c_str()), 1;
      sluice_ms.push_back(*ms);
    }
    {
      const std::string queue = "abort" + std::to_string(run);
      auto client = AmqpTestClient::connect((*rabbit)->amqp_port());
      if (!client || !(*client)->declare_durable_queue(queue)) {
        return std::printf("rabbitmq queue %s could not be declared\n", queue.c_str()), 1;
      }
      E2eEnv env;
      std::atomic<bool> stop{false};
      std::thread producer;
      auto ms = first_failure_to_abort(
          env, worker_manifest(env, **rabbit, queue, "1.0.0", 0),
          worker_manifest(env, **rabbit, queue, "2.0.0", 0.3), "worker_messages_failed_total", [&] {
            producer = std::thread([&] {
              auto c = AmqpTestClient::connect((*rabbit)->amqp_port());
              if (!c) return;
              auto next = std::chrono::steady_clock::now();
              for (int i = 0; !stop && i < 1'000'000; ++i) {
                if (!(*c)->publish(queue, "{\"order\":" + std::to_string(i) + "}",
                                   std::to_string(i))) {
                  return;
                }
                if (i % 20 == 19) std::this_thread::sleep_until(next += 10ms);  // kRate
              }
            });
          });
      stop = true;
      if (producer.joinable()) producer.join();
      if (!ms) return std::printf("peer run %d: %s\n", run, ms.status().message().c_str()), 1;
      peer_ms.push_back(*ms);
    }
  }
  std::printf("sluice (orders-stream, Kafka)     first failure -> abort ms:%s  median %.0f\n",
              list(sluice_ms).c_str(), median(sluice_ms));
  std::printf("peer   (orders-worker, RabbitMQ)  first failure -> abort ms:%s  median %.0f\n",
              list(peer_ms).c_str(), median(peer_ms));
  std::printf("ratio kafka/rabbitmq medians: %.2f\n",
              median(sluice_ms) / std::max(median(peer_ms), 1.0));
  return 0;
}
