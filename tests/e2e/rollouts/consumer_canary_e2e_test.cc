// End to end with a real RabbitMQ: a queue consumer with no front door gets a replica-ratio
// canary (no trafficRouting), the total number of instances never exceeds replicas + maxSurge,
// and a canary that fails messages (seen through the `scrape` provider on the instances' own
// /metrics) is rolled back. Failed messages are requeued, so every message is still processed.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"
#include "tests/support/rabbitmq/amqp_test_client.h"
#include "tests/support/rabbitmq/rabbitmq_broker.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kReplicas = 4;
constexpr int kMaxSurge = 1;
constexpr int kMessages = 10'000;
const std::string kQueue = "orders-canary-e2e";

std::string manifest(const E2eEnv& env, const RabbitBroker& broker, const std::string& version,
                     double fail_rate) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: worker}}
spec:
  replicas: {0}
  template:
    version: "{1}"
    command: ["bin/orders-worker", "--port", "$(PORT)", "--queue", "{2}", "--prefetch", "10",
              "--version", "{1}", "--start-active", "--fail-rate", "{3}", "--fail-mode", "requeue",
              "--processed-log", "{4}/processed-{1}.log"]
    env:
      - {{name: AMQP_URL, value: "{5}"}}
      - {{name: SLUICE_E2E_MARKER, value: "{6}"}}
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 10
  strategy:
    canary:
      maxSurge: {7}
      maxUnavailable: 0
      analysis:
        templates: [{{templateName: no-failed-messages}}]
      steps: [{{setWeight: 25}}, {{pause: {{duration: 3s}}}}, {{setWeight: 50}}, {{pause: {{duration: 3s}}}}]
---
apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {{name: no-failed-messages}}
spec:
  metrics:
    - name: failed-messages
      interval: 500ms
      failureLimit: 1
      successCondition: result == 0
      provider:
        scrape: {{metric: worker_messages_failed_total, version: canary, aggregate: rate, port: http}}
)YAML",
                     kReplicas, version, kQueue, fail_rate, env.dir(), broker.amqp_url(),
                     env.marker_value(), kMaxSurge);
}

}  // namespace

TEST_CASE("consumer canary by replica ratio: surge capped, a failing canary is rolled back",
          "[e2e][rabbitmq]") {
  RabbitBrokerOptions options;
  auto started = RabbitBroker::start(options);
  if (!started) FAIL("RabbitMQ could not be started: " << started.status().message());
  std::unique_ptr<RabbitBroker> broker = std::move(started).value();
  auto client = AmqpTestClient::connect(broker->amqp_port());
  REQUIRE(client.is_ok());
  REQUIRE((*client)->declare_durable_queue(kQueue).is_ok());

  E2eEnv env;
  env.write("worker.yaml", manifest(env, *broker, "1.0.0", 0));
  const std::string sha1 = env.commit("worker 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  auto first = env.cli({"status", "worker", "--wait", "--revision", sha1, "--timeout", "60s"});
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);

  // A steady producer (~1,000 messages/s) so the canary has messages to fail on.
  std::atomic<bool> publish_failed{false};
  std::thread producer([&] {
    auto c = AmqpTestClient::connect(broker->amqp_port());
    if (!c.is_ok()) {
      publish_failed = true;
      return;
    }
    auto next = std::chrono::steady_clock::now();
    for (int i = 0; i < kMessages; ++i) {
      const std::string id = std::to_string(i);
      if (!(*c)->publish(kQueue, "{\"order\":" + id + "}", id).is_ok()) {
        publish_failed = true;
        return;
      }
      if (i % 50 == 49) std::this_thread::sleep_until(next += 50ms);
    }
  });
  struct JoinOnExit {
    std::thread& t;
    ~JoinOnExit() {
      if (t.joinable()) t.join();
    }
  } join_producer{producer};

  env.write("worker.yaml", manifest(env, *broker, "2.0.0", 0.5));
  const std::string sha2 = env.commit("worker 2.0.0 (fails half its messages)");
  // While the canary runs, count the instances: never more than replicas + maxSurge.
  size_t most_instances = 0;
  json r;
  const bool finished = poll_until(
      [&] {
        most_instances = std::max(most_instances, env.instance_pids().size());
        r = env.rollout("worker");
        return r.is_object() && r["desired"].value("commit", "").rfind(sha2.substr(0, 12), 0) == 0 &&
               (r.value("phase", "") == "Degraded" || r.value("phase", "") == "Healthy");
      },
      90s);
  INFO(r.dump(2));
  REQUIRE(finished);
  CHECK(r.value("phase", "") == "Degraded");
  CHECK(r.value("aborted", false));
  CHECK(r.value("message", "").find("failed-messages") != std::string::npos);
  CHECK(r["stable"].value("version", "") == "1.0.0");
  CHECK(most_instances <= static_cast<size_t>(kReplicas + kMaxSurge));
  CHECK(most_instances >= static_cast<size_t>(kReplicas));
  auto bad = env.cli({"status", "worker", "--revision", sha2});
  CHECK(bad.exit_code == 1);

  // The canary goes; the stable consumers finish the queue, requeued failures included.
  producer.join();
  REQUIRE_FALSE(publish_failed.load());
  std::set<std::string> processed;
  CHECK(poll_until(
      [&] {
        processed.clear();
        for (const char* v : {"1.0.0", "2.0.0"}) {
          for (auto& line : read_lines(env.dir() + "/processed-" + v + ".log"))
            processed.insert(line.substr(0, line.find(' ')));  // "<id>" or "<id> duplicate"
        }
        return processed.size() == static_cast<size_t>(kMessages);
      },
      60s));
  CHECK(processed.size() == static_cast<size_t>(kMessages));
  CHECK(poll_until([&] { return env.instance_pids().size() == static_cast<size_t>(kReplicas); },
                   30s));
  WARN(fmt::format("consumer canary: at most {} instances (cap {}), {} of {} messages processed",
                   most_instances, kReplicas + kMaxSurge, processed.size(), kMessages));
}
