// The kafka provider against a real Apache Kafka broker (KRaft, loopback; tests/support/kafka).
// One broker serves every section of the one test case (its JVM takes ~10 s to start): each
// section uses its own topic and group, and the section that kills the broker comes last.
// The lag each section expects is what it produced and committed itself.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "analysis_test_util.h"
#include "healthcheck/analysis/analysis_runner.h"
#include "tests/support/kafka/kafka_broker.h"
#include "tests/support/kafka/kafka_test_client.h"

using namespace sluice;
using namespace sluice::analysis;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Started once per process; a missing peer fails the test (never a skip).
KafkaBroker& shared_broker() {
  static std::unique_ptr<KafkaBroker> broker;
  if (!broker) {
    auto started = KafkaBroker::start();
    INFO(started.status().message());
    REQUIRE(started.is_ok());
    broker = std::move(started).value();
  }
  return *broker;
}

manifests::Metric kafka_metric(const std::string& servers, const std::string& group,
                               const std::string& topic, const std::string& metric) {
  manifests::KafkaMetric k;
  k.bootstrap_servers = servers;
  k.consumer_group = group;
  k.topic = topic;
  k.metric = metric;
  manifests::Metric m;
  m.name = "consumer-" + metric;
  m.provider = k;
  return m;
}

void require_ok(const Status& status) {
  INFO(status.message());
  REQUIRE(status.is_ok());
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("kafka provider against a real broker", "[kafka]") {
  KafkaBroker& broker = shared_broker();
  const std::string servers = broker.bootstrap_servers();
  ProviderHarness h;  // default_timeout 2 s

  SECTION("lag and max-partition-lag are what was produced and committed") {
    require_ok(broker.create_topic("lag-orders", 4));
    require_ok(produce_to_partitions(servers, "lag-orders", {{0, 10}, {1, 20}, {2, 30}, {3, 40}}));
    // Partition 0 caught up, 1 half way, 2 at the start, 3 never committed (counts from the
    // earliest retained offset, 0 here).
    require_ok(commit_offsets(servers, "orders-stream", "lag-orders", {{0, 10}, {1, 5}, {2, 0}}));
    const Measurement lag = h.measure(kafka_metric(servers, "orders-stream", "lag-orders", "lag"));
    INFO(lag.message);
    REQUIRE(lag.phase == AnalysisPhase::kPending);
    REQUIRE(lag.value);
    CHECK(*lag.value == 0 + 15 + 30 + 40);
    CHECK(lag.query == "kafka " + servers + " group=orders-stream topic=lag-orders metric=lag");
    CHECK(lag.topic == "lag-orders");
    CHECK(lag.topic_partitions == 4);
    CHECK(lag.message ==
          "4 partition(s), lag 85 (max 40 on one partition), 1 without a committed offset");
    CHECK(nlohmann::json(lag)["topicPartitions"] == 4);

    const Measurement max =
        h.measure(kafka_metric(servers, "orders-stream", "lag-orders", "max-partition-lag"));
    REQUIRE(max.value);
    CHECK(*max.value == 40);

    // Consuming (committing) changes the next reading at once.
    require_ok(commit_offsets(servers, "orders-stream", "lag-orders", {{3, 40}, {2, 25}}));
    const Measurement after =
        h.measure(kafka_metric(servers, "orders-stream", "lag-orders", "lag"));
    REQUIRE(after.value);
    CHECK(*after.value == 15 + 5);
  }

  SECTION("lag-growth is positive while producing without consuming and <= 0 once caught up") {
    require_ok(broker.create_topic("growth", 2));
    require_ok(produce_to_partitions(servers, "growth", {{0, 50}, {1, 50}}));
    require_ok(commit_offsets(servers, "slow", "growth", {{0, 50}, {1, 50}}));
    const auto growth = kafka_metric(servers, "slow", "growth", "lag-growth");
    const MeasureContext run = test_context("growth-run");
    const Measurement first = h.measure(growth, run);
    INFO(first.message);
    REQUIRE(first.value);
    CHECK(*first.value == 0);  // no previous sample in this run

    require_ok(produce_to_partitions(servers, "growth", {{0, 100}, {1, 100}}));
    const Measurement behind = h.measure(growth, run);
    INFO(behind.message);
    REQUIRE(behind.value);
    CHECK(*behind.value > 0);

    require_ok(commit_offsets(servers, "slow", "growth", {{0, 150}, {1, 150}}));
    const Measurement caught_up = h.measure(growth, run);
    REQUIRE(caught_up.value);
    CHECK(*caught_up.value < 0);
    const Measurement steady = h.measure(growth, run);
    REQUIRE(steady.value);
    CHECK(*steady.value == 0);

    // Each run keeps its own previous sample.
    const Measurement other = h.measure(growth, test_context("another-run"));
    REQUIRE(other.value);
    CHECK(*other.value == 0);
  }

  SECTION("a group that never committed lags by everything retained") {
    require_ok(broker.create_topic("never-read", 3));
    require_ok(produce_to_partitions(servers, "never-read", {{0, 5}, {1, 6}, {2, 7}}));
    const Measurement m = h.measure(kafka_metric(servers, "nobody", "never-read", "lag"));
    INFO(m.message);
    REQUIRE(m.value);
    CHECK(*m.value == 18);
    CHECK(m.message ==
          "3 partition(s), lag 18 (max 7 on one partition), 3 without a committed offset");
  }

  SECTION("a topic that does not exist is an Error naming it, and asking does not create it") {
    for (int i = 0; i < 2; ++i) {
      const Measurement m =
          h.measure(kafka_metric(servers, "orders-stream", "no-such-topic", "lag"));
      CHECK(m.phase == AnalysisPhase::kError);
      CHECK(m.message == "kafka: topic no-such-topic does not exist");
      CHECK_FALSE(m.value);
    }
  }

  SECTION("a killed broker gives prompt Errors that count toward consecutiveErrorLimit") {
    require_ok(broker.create_topic("crash", 2));
    require_ok(produce_to_partitions(servers, "crash", {{0, 4}, {1, 6}}));
    require_ok(commit_offsets(servers, "crash-group", "crash", {{0, 0}, {1, 0}}));
    const auto lag = kafka_metric(servers, "crash-group", "crash", "lag");
    REQUIRE(h.measure(lag).value == 10.0);

    // An analysis run measuring every 200 ms, as the controller would start it.
    boost::asio::io_context io;
    AnalysisRunnerOptions options;
    options.default_timeout = Duration{2000};
    AnalysisRunnerImpl runner(io.get_executor(), SystemClock::instance(), nullptr, options);
    manifests::Metric gated = lag;
    gated.interval = Duration{200};
    gated.consecutive_error_limit = 2;
    gated.success_condition = "result < 1000";
    AnalysisRunSpec spec;
    spec.name = "crash-run";
    spec.rollout = "orders";
    manifests::AnalysisTemplate t;
    t.spec.metrics = {gated};
    spec.templates = {t};
    runner.start(spec);
    auto run_until = [&](auto done, std::chrono::seconds budget) {
      const auto deadline = std::chrono::steady_clock::now() + budget;
      while (std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(20ms);
        auto s = runner.status("crash-run");
        if (s && done(*s)) return s;
      }
      return runner.status("crash-run");
    };
    auto measured = run_until(
        [](const AnalysisRunStatus& s) {
          return !s.metrics.empty() && s.metrics[0].successful >= 1;
        },
        20s);
    REQUIRE(measured);
    REQUIRE_FALSE(measured->metrics.empty());
    REQUIRE(measured->metrics[0].successful >= 1);

    require_ok(broker.kill());
    const auto killed_at = std::chrono::steady_clock::now();
    auto ended = run_until([](const AnalysisRunStatus& s) { return is_terminal(s.phase); }, 30s);
    const double to_verdict = seconds_since(killed_at);
    REQUIRE(ended);
    INFO(nlohmann::json(*ended).dump());
    CHECK(ended->phase == AnalysisPhase::kError);
    CHECK_THAT(ended->message, Catch::Contains("consecutiveErrorLimit 2"));
    REQUIRE_FALSE(ended->metrics[0].measurements.empty());
    const Measurement& last = ended->metrics[0].measurements.back();
    CHECK(last.phase == AnalysisPhase::kError);
    CHECK_THAT(last.message, Catch::StartsWith("kafka: "));
    // Three Errors (the limit is exceeded on the third), each bounded by the 2 s timeout, plus
    // the intervals and the measurement that may have been in flight at the kill.
    CHECK(to_verdict < 12.0);

    // One measurement on its own: an Error within the timeout, with a margin for a loaded host.
    const auto asked_at = std::chrono::steady_clock::now();
    const Measurement down = h.measure(lag);
    CHECK(down.phase == AnalysisPhase::kError);
    CHECK_THAT(down.message, Catch::StartsWith("kafka: "));
    CHECK(seconds_since(asked_at) < 5.0);

    // Shutting a provider down while its call waits on the dead broker returns within the
    // timeout, and the measurement still gets its (Error) answer.
    {
      boost::asio::io_context own;
      ProviderEnv env;
      env.executor = own.get_executor();
      env.clock = &SystemClock::instance();
      env.default_timeout = Duration{2000};
      auto provider = ProviderRegistry::with_defaults().create("kafka", env);
      REQUIRE(provider);
      std::optional<Measurement> answer;
      provider->measure(lag, test_context(), [&](Measurement m) { answer = std::move(m); });
      std::this_thread::sleep_for(100ms);  // the worker is inside librdkafka now
      const auto shutdown_at = std::chrono::steady_clock::now();
      provider->shutdown();
      CHECK(seconds_since(shutdown_at) < 5.0);
      provider.reset();
      own.run_for(1s);
      REQUIRE(answer);
      CHECK(answer->phase == AnalysisPhase::kError);
    }

    // After a restart (same port, same data) the same provider measures again.
    require_ok(broker.restart());
    std::optional<Measurement> recovered;
    const auto restarted_at = std::chrono::steady_clock::now();
    while (seconds_since(restarted_at) < 30.0) {
      Measurement m = h.measure(lag);
      if (m.phase != AnalysisPhase::kError) {
        recovered = m;
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    REQUIRE(recovered);
    REQUIRE(recovered->value);
    CHECK(*recovered->value == 10);
    // The last section: stop the JVM here rather than from a static destructor at exit.
    require_ok(broker.stop());
  }
}
