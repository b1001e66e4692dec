// bench_kafka_lag: the cost of one `kafka` lag measurement over a topic of 1,000 partitions,
// against the tool an operator would run for the same answer, measured in the same run.
//
// Starts a real Kafka broker (tests/support/kafka, KRaft on loopback), creates a topic of 1,000
// partitions, produces 3 records to each and commits offset 1 of each for one group (lag 2,000).
// Then
//  1. 50 measurements (after 5 warm-up ones) through the kafka provider, one at a time, as an
//     analysis interval would ask: median and p99 latency;
//  2. the peer: `kafka-consumer-groups --describe --group G` (Kafka's ConsumerGroupCommand, run
//     by /usr/bin/java from the broker's jars), 5 runs: median and p99 wall time, JVM start
//     included, since that is what the operator pays.
// Prints both configurations, the medians and the ratio peer/provider. Bounded: every wait has a
// deadline (the broker's start 90 s, each peer run 60 s).
#include <librdkafka/rdkafka.h>
#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "healthcheck/analysis/provider.h"
#include "tests/support/kafka/kafka_broker.h"
#include "tests/support/kafka/kafka_test_client.h"
#include "tests/support/peers/peers.h"
#include "tests/support/process/test_process.h"

using namespace sluice;
using namespace sluice::analysis;
using namespace sluice::testing;
using steady = std::chrono::steady_clock;

namespace {

constexpr int kPartitions = 1000;
constexpr int kMeasurements = 50;
constexpr int kPeerRuns = 5;
const char* const kTopic = "bench-orders";
const char* const kGroup = "bench-group";

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

int fail(const std::string& what) {
  std::printf("bench_kafka_lag: %s\n", what.c_str());
  return 1;
}

// One measurement, run to completion on `io` (bounded: 30 s).
std::optional<Measurement> measure_once(Provider& provider, boost::asio::io_context& io,
                                        const manifests::Metric& metric) {
  std::optional<Measurement> out;
  MeasureContext context;
  context.run = "bench";
  provider.measure(metric, context, [&](Measurement m) { out = std::move(m); });
  const auto deadline = steady::now() + std::chrono::seconds(30);
  io.restart();
  while (!out && steady::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main() {
  KafkaBrokerOptions options;
  auto started = KafkaBroker::start(options);
  if (!started) return fail("cannot start the broker: " + started.status().message());
  KafkaBroker& broker = **started;
  const std::string servers = broker.bootstrap_servers();
  if (Status s = broker.create_topic(kTopic, kPartitions); !s.is_ok()) return fail(s.message());
  std::map<int32_t, int> records;
  std::map<int32_t, int64_t> committed;
  for (int32_t p = 0; p < kPartitions; ++p) {
    records[p] = 3;
    committed[p] = 1;
  }
  if (Status s = produce_to_partitions(servers, kTopic, records); !s.is_ok()) {
    return fail(s.message());
  }
  if (Status s = commit_offsets(servers, kGroup, kTopic, committed); !s.is_ok()) {
    return fail(s.message());
  }
  const int64_t expected_lag = 2 * kPartitions;

  // 1. The provider.
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  ProviderEnv env;
  env.executor = io.get_executor();
  env.clock = &SystemClock::instance();
  env.default_timeout = Duration{10'000};
  auto provider = ProviderRegistry::with_defaults().create("kafka", env);
  manifests::KafkaMetric k{servers, kGroup, kTopic, "lag"};
  manifests::Metric metric;
  metric.name = "lag";
  metric.provider = k;
  std::vector<double> ours;
  int wrong = 0;
  for (int i = 0; i < 5 + kMeasurements; ++i) {
    const auto t0 = steady::now();
    auto m = measure_once(*provider, io, metric);
    const double ms = ms_since(t0);
    if (!m || !m->value || *m->value != static_cast<double>(expected_lag)) {
      ++wrong;
      if (m) std::printf("  unexpected measurement: %s\n", m->message.c_str());
    }
    if (i >= 5) ours.push_back(ms);
  }
  provider->shutdown();
  std::printf("bench_kafka_lag: one consumer-group lag reading of a %d-partition topic\n",
              kPartitions);
  std::printf(
      "  setup: 1 KRaft broker on loopback (%s, heap %s), topic %s, %d records, group %s "
      "committed at offset 1 of every partition (lag %lld)\n",
      servers.c_str(), options.heap.c_str(), kTopic, 3 * kPartitions, kGroup,
      static_cast<long long>(expected_lag));
  std::printf(
      "  ours: kafka provider (librdkafka %s, admin API: metadata + "
      "ListConsumerGroupOffsets + batched ListOffsets), %d sequential measurements after "
      "5 warm-up, one client reused\n",
      rd_kafka_version_str(), kMeasurements);
  std::printf("        median %.1f ms  p99 %.1f ms  wrong or failed %d\n", percentile(ours, 0.5),
              percentile(ours, 0.99), wrong);
  std::fflush(stdout);

  // 2. The peer: Kafka's own tool, the class of whichever Kafka version the peer holds.
  auto libs = peer_path("kafka/libs");
  if (!libs) return fail(libs.status().message());
  TempDir dir;
  std::vector<double> theirs;
  std::string peer_class;
  std::string peer_output;
  for (const char* candidate : {"org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                                "kafka.admin.ConsumerGroupCommand"}) {
    std::vector<double> times;
    bool ok = true;
    for (int i = 0; i < kPeerRuns && ok; ++i) {
      const std::string log = dir.file("peer-" + std::to_string(i) + ".out");
      const auto t0 = steady::now();
      auto child =
          ChildProcess::spawn({"/usr/bin/java", "-cp", *libs + "/*", candidate,
                               "--bootstrap-server", servers, "--describe", "--group", kGroup},
                              {}, log);
      if (!child) return fail(child.status().message());
      const auto code = (*child)->wait_exit(std::chrono::seconds(60));
      times.push_back(ms_since(t0));
      peer_output = read_file(log);
      ok = code && *code == 0 && peer_output.find(kTopic) != std::string::npos;
    }
    if (ok) {
      theirs = times;
      peer_class = candidate;
      break;
    }
  }
  if (peer_class.empty()) {
    // scripts/peers fetches the broker's jars; ConsumerGroupCommand lives in kafka-tools-*.jar.
    return fail("peer kafka-consumer-groups failed (is kafka-tools-*.jar in " + *libs +
                "?); its output:\n" + peer_output);
  }
  // Rows are "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ..."; count the topic's.
  int peer_rows = 0;
  std::istringstream rows(peer_output);
  for (std::string line; std::getline(rows, line);) {
    if (line.find(std::string(" ") + kTopic + " ") != std::string::npos) ++peer_rows;
  }

  std::printf(
      "  peer: /usr/bin/java -cp '<peers>/kafka/libs/*' %s --describe --group %s, %d runs "
      "(JVM start included), %d partition rows\n",
      peer_class.c_str(), kGroup, kPeerRuns, peer_rows);
  std::printf("        median %.1f ms  p99 %.1f ms\n", percentile(theirs, 0.5),
              percentile(theirs, 0.99));
  std::printf("  ratio peer/ours median %.1f\n",
              percentile(ours, 0.5) > 0 ? percentile(theirs, 0.5) / percentile(ours, 0.5) : 0.0);
  return wrong == 0 && peer_rows == kPartitions ? 0 : 1;
}
