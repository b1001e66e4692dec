// End to end with a real RabbitMQ: a producer publishes 100,000 numbered persistent messages
// while `sluice serve` moves the orders-worker consumer blue (1.0.0) -> green (2.0.0) -> a bad
// green (3.0.0, fails and requeues 30% of its messages) -> automatic rollback to 2.0.0. Every id
// of {0..N-1} must be processed at least once, duplicates (redeliveries to any process) must stay
// within prefetch x switches, the three switches must happen while the producer publishes, and
// two versions must never consume at the same time: by the workers' activation log and by the
// broker's own consumer count, sampled throughout.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"
#include "tests/support/rabbitmq/amqp_test_client.h"
#include "tests/support/rabbitmq/rabbitmq_broker.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int kMessages = 100'000;
constexpr int kPrefetch = 10;
const std::string kQueue = "orders-e2e";

std::string worker_manifest(const E2eEnv& env, const RabbitBroker& broker,
                            const std::string& version, double fail_rate) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: worker}}
spec:
  replicas: 2
  template:
    version: "{0}"
    command: ["bin/orders-worker", "--port", "$(PORT)", "--queue", "{1}", "--prefetch", "{2}",
              "--version", "{0}", "--fail-rate", "{3}", "--fail-mode", "requeue",
              "--processed-log", "{4}/processed-{0}.log", "--activation-log", "{4}/activation.log"]
    env:
      - {{name: AMQP_URL, value: "{5}"}}
      - {{name: SLUICE_E2E_MARKER, value: "{6}"}}
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    lifecycle:
      activate: {{httpPost: {{path: /admin/activate, port: http}}}}
      deactivate: {{httpPost: {{path: /admin/deactivate, port: http}}, timeoutSeconds: 30}}
    terminationGracePeriodSeconds: 30
  strategy:
    blueGreen:
      autoPromotionEnabled: true
      autoPromotionSeconds: 1
      postPromotionAnalysis: {{templates: [{{templateName: no-failed-messages}}]}}
      scaleDownDelaySeconds: 2
      abortScaleDownDelaySeconds: 2
---
apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {{name: no-failed-messages}}
spec:
  metrics:
    - name: failed-messages
      interval: 500ms
      count: 6
      failureLimit: 0
      successCondition: result == 0
      provider:
        scrape: {{metric: worker_messages_failed_total, version: canary, aggregate: rate, port: http}}
)YAML",
                     version, kQueue, kPrefetch, fail_rate, env.dir(), broker.amqp_url(),
                     env.marker_value());
}

std::vector<std::string> lines_of(const std::string& path) { return read_lines(path); }

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TEST_CASE("consumer blue-green under 100,000 messages: none lost, no overlap, rollback",
          "[e2e][rabbitmq]") {
  RabbitBrokerOptions options;
  options.management = true;
  auto started = RabbitBroker::start(options);
  if (!started) FAIL("RabbitMQ could not be started: " << started.status().message());
  std::unique_ptr<RabbitBroker> broker = std::move(started).value();
  auto client = AmqpTestClient::connect(broker->amqp_port());
  REQUIRE(client.is_ok());
  REQUIRE((*client)->declare_durable_queue(kQueue).is_ok());

  E2eEnv env;
  env.write("worker.yaml", worker_manifest(env, *broker, "1.0.0", 0));
  const std::string sha1 = env.commit("worker 1.0.0 (blue)");
  std::string why;
  REQUIRE(env.start_serve(why));
  auto first = env.cli({"status", "worker", "--wait", "--revision", sha1, "--timeout", "60s"});
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);

  // The producer: 100,000 persistent messages with ids, paced at about 2,500 per second so that
  // both switches and the rollback happen while it publishes.
  std::atomic<int> published{0};
  std::atomic<bool> publish_failed{false};
  std::atomic<int64_t> first_publish_ms{0}, last_publish_ms{0};
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
      published = i + 1;
      if (i == 0) first_publish_ms = now_unix_ms();
      if (i == kMessages - 1) last_publish_ms = now_unix_ms();
      if (i % 100 == 99) {
        next += 40ms;
        std::this_thread::sleep_until(next);
      }
    }
  });
  struct JoinOnExit {
    std::thread& t;
    ~JoinOnExit() {
      if (t.joinable()) t.join();
    }
  } join_producer{producer};

  // The broker's view: its consumer count for the queue (a passive queue.declare, answered by
  // the queue process itself), sampled every few ms until the end. Each version runs 2
  // consumers, so more than 2 at any moment means two versions consumed at once. (The
  // management API's consumer lists come from its statistics database, which lags by up to the
  // statistics interval, so they could show overlaps that never happened and miss real ones.)
  std::atomic<bool> sampling{true};
  std::atomic<uint32_t> max_consumers{0};
  std::atomic<int> samples{0}, sample_errors{0};
  std::thread sampler([&] {
    auto c = AmqpTestClient::connect(broker->amqp_port());
    if (!c.is_ok()) {
      sample_errors = 1;
      return;
    }
    for (int i = 0; i < 200'000 && sampling.load(); ++i) {  // bounded: ~20 min at 5 ms
      auto q = (*c)->inspect(kQueue);
      if (!q.is_ok()) {
        ++sample_errors;
      } else {
        ++samples;
        uint32_t seen = max_consumers.load();
        while (q->consumers > seen && !max_consumers.compare_exchange_weak(seen, q->consumers)) {
        }
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  struct StopSampler {
    std::atomic<bool>& flag;
    std::thread& t;
    ~StopSampler() {
      flag = false;
      if (t.joinable()) t.join();
    }
  } stop_sampler{sampling, sampler};

  REQUIRE(poll_until([&] { return published.load() > 5'000; }, 30s));
  env.write("worker.yaml", worker_manifest(env, *broker, "2.0.0", 0));
  const std::string sha2 = env.commit("worker 2.0.0 (green)");
  auto green = env.cli({"status", "worker", "--wait", "--revision", sha2, "--timeout", "90s"});
  INFO(green.out << green.err);
  CHECK(green.exit_code == 0);

  env.write("worker.yaml", worker_manifest(env, *broker, "3.0.0", 0.3));
  const std::string sha3 = env.commit("worker 3.0.0 (bad green)");
  auto bad = env.cli({"status", "worker", "--wait", "--revision", sha3, "--timeout", "90s"});
  INFO(bad.out << bad.err);
  CHECK(bad.exit_code == 1);
  CHECK((bad.out + bad.err).find("failed-messages") != std::string::npos);
  json r = env.rollout("worker");
  INFO(r.dump(2));
  CHECK(r.value("aborted", false));
  CHECK(r["stable"].value("version", "") == "2.0.0");
  const bool still_publishing = published.load() < kMessages;

  producer.join();
  REQUIRE_FALSE(publish_failed.load());
  // 2.0.0 is active again and drains the queue (bounded).
  std::set<std::string> processed;
  size_t lines_total = 0;
  auto collect = [&] {
    processed.clear();
    lines_total = 0;
    for (const char* v : {"1.0.0", "2.0.0", "3.0.0"}) {
      // One line per completed delivery: "<id>", or "<id> duplicate" for a redelivery to a
      // process that had processed it already (orders-worker acks those without processing).
      for (auto& line : lines_of(env.dir() + "/processed-" + v + ".log")) {
        processed.insert(line.substr(0, line.find(' ')));
        ++lines_total;
      }
    }
    return processed.size() >= static_cast<size_t>(kMessages);
  };
  CHECK(poll_until(collect, 180s));
  auto queue = (*client)->inspect(kQueue);
  REQUIRE(queue.is_ok());
  CHECK(queue->messages == 0);
  CHECK(queue->consumers == 2);  // the two 2.0.0 workers, and nobody else
  sampling = false;
  sampler.join();

  // Exactly the ids {0..N-1}, each at least once: a count could hide a lost id behind a stray.
  std::vector<std::string> missing;
  for (int i = 0; i < kMessages; ++i) {
    if (!processed.count(std::to_string(i))) missing.push_back(std::to_string(i));
  }
  INFO("first missing ids: " << (missing.empty() ? "" : missing.front()));
  CHECK(missing.empty());
  CHECK(processed.size() == static_cast<size_t>(kMessages));
  // Duplicates (redeliveries to another process or to the same one) within prefetch x the
  // number of switches (3).
  const size_t duplicates = lines_total - processed.size();
  CHECK(duplicates <= static_cast<size_t>(kPrefetch * 3));
  // The broker never had more than one version's consumers.
  CHECK(sample_errors.load() == 0);
  CHECK(samples.load() > 100);
  CHECK(max_consumers.load() == 2);
  // Each version really consumed: blue before, green between and after, the bad one briefly.
  CHECK(!lines_of(env.dir() + "/processed-1.0.0.log").empty());
  CHECK(!lines_of(env.dir() + "/processed-2.0.0.log").empty());

  // The activation log, in write order (O_APPEND), never has two versions consuming at once.
  std::map<std::string, std::set<long long>> active;  // version -> pids consuming
  int overlaps = 0, activations = 0;
  std::vector<std::pair<long long, std::string>> activated;  // (unix ms, version), in order
  for (const auto& line : lines_of(env.dir() + "/activation.log")) {
    std::istringstream in(line);
    long long at_ms = 0, pid = 0;
    std::string version, what;
    in >> at_ms >> pid >> version >> what;
    if (what == "activate") {
      ++activations;
      activated.emplace_back(at_ms, version);
      for (const auto& [other, pids] : active) {
        if (other != version && !pids.empty()) ++overlaps;
      }
      active[version].insert(pid);
    } else if (what == "deactivate-end" || what == "exit") {
      active[version].erase(pid);
    }
  }
  CHECK(overlaps == 0);
  // Exactly: 1.0.0 x2 (the first rollout), then each switch activates the 2 workers of its
  // version: 2.0.0, 3.0.0, and 2.0.0 again after the rollback. More would be a restart or a
  // second activation of a worker; fewer, a switch that did not happen.
  CHECK(activations == 8);
  const std::vector<std::string> order = {"1.0.0", "1.0.0", "2.0.0", "2.0.0",
                                          "3.0.0", "3.0.0", "2.0.0", "2.0.0"};
  std::vector<std::string> versions;
  for (const auto& [at, version] : activated) versions.push_back(version);
  CHECK(versions == order);
  // The three switches happened while messages were being published.
  CHECK(still_publishing);
  REQUIRE(first_publish_ms.load() > 0);
  REQUIRE(last_publish_ms.load() > 0);
  for (size_t i = 2; i < activated.size(); ++i) {
    INFO("activation " << i << " of " << activated[i].second << " at " << activated[i].first);
    CHECK(activated[i].first > first_publish_ms.load());
    CHECK(activated[i].first < last_publish_ms.load());
  }
  WARN(fmt::format("consumer blue-green: {} published, {} processed, {} lost, {} duplicated; "
                   "{} activations; switches while publishing: {}; broker consumers at most {} "
                   "in {} samples",
                   kMessages, processed.size(), missing.size(), duplicates, activations,
                   still_publishing ? "yes" : "no", max_consumers.load(), samples.load()));
}
