// bin/orders-stream and orders-load's Kafka modes against a real Kafka broker on loopback
// (tests/support/kafka). One broker serves every section of this process (it takes seconds to
// start); each section uses its own topics and consumer group. The records are produced by the
// real `orders-load --kafka-brokers`, and the output topic is read back record by record.
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "examples/services/common/kafka_client.h"
#include "tests/support/kafka/kafka_broker.h"
#include "tests/support/paths/paths.h"
#include "tests/support/process/test_process.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using sluice::examples::RdKafkaPtr;

namespace {

constexpr int kPartitions = 4;
constexpr int kTimeoutMs = 30'000;

KafkaBroker& broker() {
  static std::unique_ptr<KafkaBroker> instance;  // stopped at exit, also after failures
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    auto started = KafkaBroker::start();
    if (started) {
      instance = std::move(started).value();
    } else {
      error = started.status().message();
    }
  }
  if (!instance) FAIL("Kafka could not be started: " << error);
  return *instance;
}

// A fresh input topic (kPartitions), output topic (2 partitions) and group per section.
struct Names {
  std::string input, output, group;
};
Names make_topics(const std::string& name) {
  Names names{name + "-in", name + "-out", name + "-group"};
  for (const auto& [topic, partitions] :
       {std::pair{names.input, kPartitions}, std::pair{names.output, 2}}) {
    sluice::Status created = broker().create_topic(topic, partitions);
    INFO(created.message());
    REQUIRE(created.is_ok());
  }
  return names;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct LoadRun {
  int code = -1;
  std::string out, err;
};

// Runs orders-load to completion with `args`.
LoadRun run_load(const TempDir& dir, std::vector<std::string> args) {
  static int runs = 0;
  const std::string out = dir.file("load-" + std::to_string(++runs) + ".out");
  args.insert(args.begin(), sluice::test::bin_dir() + "/orders-load");
  auto child = ChildProcess::spawn(args, {}, out, out + ".err");
  REQUIRE(child.is_ok());
  auto code = child.value()->wait_exit(150s);
  REQUIRE(code.has_value());
  return {*code, slurp(out), slurp(out + ".err")};
}

nlohmann::json parse_json(const std::string& text) {
  INFO(text);
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  REQUIRE(parsed.is_object());
  return parsed;
}

// orders-load --kafka-brokers: `count` records from `first` at `rate` per second; all delivered.
void produce(const TempDir& dir, const std::string& topic, int first, int count, int rate) {
  LoadRun run = run_load(dir, {"--kafka-brokers", broker().bootstrap_servers(), "--topic", topic,
                               "--rate", std::to_string(rate), "--count", std::to_string(count),
                               "--start-seq", std::to_string(first), "--output", "json"});
  INFO(run.err);
  REQUIRE(run.code == 0);
  nlohmann::json summary = parse_json(run.out);
  CHECK(summary["produced"] == count);
  CHECK(summary["failed"] == 0);
  CHECK(summary["firstSeq"] == first);
  CHECK(summary["lastSeq"] == first + count - 1);
}

// The same, in the background (the caller waits for its exit).
std::unique_ptr<ChildProcess> produce_in_background(const TempDir& dir, const std::string& topic,
                                                    int first, int count, int rate) {
  auto child = ChildProcess::spawn(
      {sluice::test::bin_dir() + "/orders-load", "--kafka-brokers", broker().bootstrap_servers(),
       "--topic", topic, "--rate", std::to_string(rate), "--count", std::to_string(count),
       "--start-seq", std::to_string(first), "--output", "json"},
      {}, dir.file("background-load.out"), dir.file("background-load.err"));
  REQUIRE(child.is_ok());
  return std::move(child).value();
}

nlohmann::json audit(const TempDir& dir, const std::string& topic, int first, int count,
                     int expected_exit = 0) {
  LoadRun run = run_load(
      dir, {"--kafka-brokers", broker().bootstrap_servers(), "--audit-topic", topic, "--expect-seq",
            std::to_string(first) + ":" + std::to_string(count), "--output", "json"});
  INFO(run.out << run.err);
  if (expected_exit >= 0) CHECK(run.code == expected_exit);
  return parse_json(run.out);
}

RdKafkaPtr<rd_kafka_t> client(rd_kafka_type_t type, const std::string& group) {
  sluice::examples::KafkaSettings settings = {{"bootstrap.servers", broker().bootstrap_servers()},
                                              {"enable.auto.commit", "false"},
                                              {"enable.partition.eof", "true"}};
  if (!group.empty()) settings.push_back({"group.id", group});
  if (type == RD_KAFKA_PRODUCER) settings = {{"bootstrap.servers", broker().bootstrap_servers()}};
  auto made = sluice::examples::make_kafka_client(type, settings);
  INFO(made.status().message());
  REQUIRE(made.is_ok());
  return std::move(made).value();
}

// Every record of the output topic, parsed.
std::vector<nlohmann::json> read_outputs(const std::string& topic) {
  auto consumer = client(RD_KAFKA_CONSUMER, "orders-stream-test-reader");
  std::vector<nlohmann::json> records;
  sluice::Status read = sluice::examples::read_to_high_watermarks(
      consumer.get(), topic, kTimeoutMs, [&](const rd_kafka_message_t& message) {
        const auto* payload = static_cast<const char*>(message.payload);
        records.push_back(nlohmann::json::parse(payload, payload + message.len, nullptr, false));
        CHECK(records.back().is_object());
        // The output keeps the input's key: the seq in decimal.
        CHECK(std::string(static_cast<const char*>(message.key), message.key_len) ==
              records.back()["seq"].dump());
      });
  INFO(read.message());
  REQUIRE(read.is_ok());
  return records;
}

std::map<int32_t, int64_t> high_watermarks(const std::string& topic) {
  auto producer = client(RD_KAFKA_PRODUCER, "");
  auto highs = sluice::examples::high_watermarks(producer.get(), topic, kTimeoutMs);
  INFO(highs.status().message());
  REQUIRE(highs.is_ok());
  return highs.value();
}

std::map<int32_t, int64_t> committed(const std::string& group, const std::string& topic) {
  auto consumer = client(RD_KAFKA_CONSUMER, group);
  auto offsets = sluice::examples::committed_offsets(consumer.get(), topic, high_watermarks(topic),
                                                     kTimeoutMs);
  INFO(offsets.status().message());
  REQUIRE(offsets.is_ok());
  return offsets.value();
}

struct StreamStats {
  double processed = -1, failed = -1, rebalances = -1, active = -1, assigned = -1;
};

StreamStats stats(int port) {
  auto res = http(port, "GET", "/metrics");
  REQUIRE(res.is_ok());
  REQUIRE(res.value().status == 200);
  const std::string& m = res.value().body;
  return {metric_value(m, "processed_total").value_or(-1),
          metric_value(m, "failed_total").value_or(-1),
          metric_value(m, "rebalances_total").value_or(-1),
          metric_value(m, "orders_stream_active").value_or(-1),
          metric_value(m, "orders_stream_assigned_partitions").value_or(-1)};
}

Service start_stream(const TempDir& dir, const Names& names, const std::string& version,
                     std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--version",      version,      "--topic", names.input,
                                   "--output-topic", names.output, "--group", names.group};
  args.insert(args.end(), extra.begin(), extra.end());
  std::ofstream(dir.file(version + ".role")) << "canary\n";
  auto service = start_service("orders-stream", args,
                               {"KAFKA_BOOTSTRAP_SERVERS=" + broker().bootstrap_servers(),
                                "SLUICE_ROLE_FILE=" + dir.file(version + ".role")},
                               dir, "stream-" + version);
  REQUIRE(service.is_ok());
  const int port = service.value().port;
  REQUIRE(poll_until(
      [&] {
        auto res = http(port, "GET", "/healthz");
        return res.is_ok() && res.value().status == 200;
      },
      30s));
  return std::move(service).value();
}

nlohmann::json post(int port, const std::string& path, int expected_status = 200) {
  auto res = http(port, "POST", path);
  REQUIRE(res.is_ok());
  INFO(path << ": " << res.value().body);
  CHECK(res.value().status == expected_status);
  return parse_json(res.value().body);
}

// Per input partition, one past the highest offset `instance` wrote an output for.
std::map<int32_t, int64_t> processed_positions(const std::vector<nlohmann::json>& outputs,
                                               const std::string& instance) {
  std::map<int32_t, int64_t> next;
  for (const auto& r : outputs) {
    if (r["instance"] != instance) continue;
    int64_t& n = next[r["partition"].get<int32_t>()];
    n = std::max(n, r["offset"].get<int64_t>() + 1);
  }
  return next;
}

std::string instance_of(const Service& s) {
  return std::to_string(s.process->pid()) + "@" + std::to_string(s.port);
}

}  // namespace

TEST_CASE("orders-stream processes at least once without loss and hands over cleanly",
          "[examples][kafka]") {
  broker();
  TempDir dir;

  SECTION("every record once; the output says where it came from; deactivate commits first") {
    const Names names = make_topics("once");
    produce(dir, names.input, 0, 200, 2000);
    Service stream = start_stream(dir, names, "1.0.0");
    // Ready, but not a member of the group until activated.
    StreamStats idle = stats(stream.port);
    CHECK(idle.active == 0);
    CHECK(idle.processed == 0);
    CHECK(idle.assigned == 0);

    CHECK(post(stream.port, "/admin/activate") == nlohmann::json{{"active", true}});
    REQUIRE(poll_until([&] { return stats(stream.port).processed == 200; }, 30s));
    CHECK(post(stream.port, "/admin/activate") == nlohmann::json{{"active", true}});  // idempotent
    StreamStats busy = stats(stream.port);
    CHECK(busy.active == 1);
    CHECK(busy.assigned == kPartitions);  // the only member takes every partition
    CHECK(busy.rebalances >= 1);
    CHECK(busy.failed == 0);
    {
      auto res = http(stream.port, "GET", "/metrics");
      REQUIRE(res.is_ok());
      CHECK(metric_value(res.value().body, "processed_total",
                         {"version=\"1.0.0\"", "role=\"canary\""}) == 200);
    }

    nlohmann::json result = post(stream.port, "/admin/deactivate");
    CHECK(result["processed"] == 200);
    // Deactivated: out of the group, owning nothing, and every processed offset committed.
    StreamStats after = stats(stream.port);
    CHECK(after.active == 0);
    CHECK(after.assigned == 0);
    const std::vector<nlohmann::json> outputs = read_outputs(names.output);
    REQUIRE(outputs.size() == 200);
    CHECK(committed(names.group, names.input) == high_watermarks(names.input));
    CHECK(processed_positions(outputs, instance_of(stream)) == high_watermarks(names.input));

    std::set<int64_t> seqs;
    std::set<std::pair<int32_t, int64_t>> positions;
    for (const auto& r : outputs) {
      INFO(r.dump());
      seqs.insert(r["seq"].get<int64_t>());
      positions.emplace(r["partition"].get<int32_t>(), r["offset"].get<int64_t>());
      CHECK(r["version"] == "1.0.0");
      CHECK(r["role"] == "canary");
      CHECK(r["instance"] == instance_of(stream));
      CHECK(r["attempts"] == 1);
      CHECK(r["processedAtMs"].get<int64_t>() > 1'600'000'000'000);
    }
    CHECK(seqs.size() == 200);
    CHECK(*seqs.begin() == 0);
    CHECK(*seqs.rbegin() == 199);
    CHECK(positions.size() == 200);  // one output per input record

    nlohmann::json audited = audit(dir, names.output, 0, 200);
    CHECK(audited["lost"] == 0);
    CHECK(audited["duplicates"] == 0);
    CHECK(audited["byVersion"] == nlohmann::json{{"1.0.0", 200}});

    // Activate again: it rejoins and takes the partitions back, with nothing left to process.
    CHECK(post(stream.port, "/admin/activate") == nlohmann::json{{"active", true}});
    REQUIRE(poll_until([&] { return stats(stream.port).assigned == kPartitions; }, 30s));
    stream.process->signal(SIGTERM);
    CHECK(stream.process->wait_exit(30s) == 0);
  }

  SECTION(
      "two instances share the partitions; deactivating one mid-stream loses and repeats "
      "nothing") {
    const Names names = make_topics("share");
    const int total = 600;
    auto load = produce_in_background(dir, names.input, 0, total, 150);
    // 10 ms per record: one instance keeps up with 100/s, so a backlog builds at 150/s.
    Service blue = start_stream(dir, names, "blue", {"--start-active", "--latency-ms", "10"});
    REQUIRE(poll_until([&] { return stats(blue.port).processed >= 50; }, 30s));
    Service green = start_stream(dir, names, "green", {"--start-active", "--latency-ms", "10"});
    // Cooperative-sticky: green takes some partitions from blue, blue keeps the rest.
    REQUIRE(poll_until(
        [&] {
          StreamStats b = stats(blue.port), g = stats(green.port);
          return b.assigned > 0 && g.assigned > 0 && b.assigned + g.assigned == kPartitions;
        },
        30s));
    REQUIRE(poll_until([&] { return stats(green.port).processed >= 20; }, 30s));

    nlohmann::json result = post(blue.port, "/admin/deactivate");
    CHECK(stats(blue.port).assigned == 0);
    REQUIRE(poll_until([&] { return stats(green.port).assigned == kPartitions; }, 30s));
    REQUIRE(load->wait_exit(60s) == 0);
    REQUIRE(poll_until(
        [&] { return stats(blue.port).processed + stats(green.port).processed == total; }, 60s));
    CHECK(result["processed"] == stats(blue.port).processed);

    nlohmann::json audited = audit(dir, names.output, 0, total);
    CHECK(audited["records"] == total);
    CHECK(audited["lost"] == 0);
    CHECK(audited["duplicates"] == 0);
    CHECK(audited["byVersion"]["blue"] == stats(blue.port).processed);
    CHECK(audited["byVersion"]["green"] == stats(green.port).processed);
    CHECK(stats(green.port).rebalances >= 2);  // its first share, then blue's partitions
  }

  SECTION("--fail-rate retries in place: nothing is lost and failed_total counts every failure") {
    const Names names = make_topics("failing");
    produce(dir, names.input, 0, 150, 2000);
    Service stream = start_stream(dir, names, "bad", {"--start-active", "--fail-rate", "0.3"});
    REQUIRE(poll_until([&] { return stats(stream.port).processed == 150; }, 60s));
    const std::vector<nlohmann::json> outputs = read_outputs(names.output);
    int64_t retries = 0;
    for (const auto& r : outputs) retries += r["attempts"].get<int64_t>() - 1;
    CHECK(retries > 0);
    CHECK(stats(stream.port).failed == retries);
    nlohmann::json audited = audit(dir, names.output, 0, 150);
    CHECK(audited["lost"] == 0);
    CHECK(audited["duplicates"] == 0);
  }

  SECTION("SIGTERM mid-stream commits what was processed and exits 0; the next one resumes") {
    const Names names = make_topics("sigterm");
    const int total = 400;
    auto load = produce_in_background(dir, names.input, 0, total, 200);
    Service first = start_stream(dir, names, "first", {"--start-active", "--latency-ms", "10"});
    REQUIRE(poll_until([&] { return stats(first.port).processed >= 100; }, 30s));
    first.process->signal(SIGTERM);
    REQUIRE(first.process->wait_exit(30s) == 0);
    // Nothing else consumes yet: the committed offsets are exactly what it processed.
    const std::vector<nlohmann::json> outputs = read_outputs(names.output);
    CHECK(committed(names.group, names.input) == processed_positions(outputs, instance_of(first)));

    Service second = start_stream(dir, names, "second", {"--start-active"});
    REQUIRE(load->wait_exit(60s) == 0);
    const double before = static_cast<double>(outputs.size());
    REQUIRE(poll_until([&] { return stats(second.port).processed == total - before; }, 60s));
    nlohmann::json audited = audit(dir, names.output, 0, total);
    CHECK(audited["lost"] == 0);
    CHECK(audited["duplicates"] == 0);
  }

  SECTION("kill -9 repeats only the records after the committed offsets") {
    const Names names = make_topics("crash");
    const int total = 500;
    auto load = produce_in_background(dir, names.input, 0, total, 200);
    Service doomed = start_stream(dir, names, "doomed", {"--start-active"});
    // Killed once it has processed some and the one-second auto-commit has committed some.
    auto committed_records = [&] {
      int64_t sum = 0;
      for (const auto& [partition, offset] : committed(names.group, names.input)) {
        sum += std::max<int64_t>(0, offset);
      }
      return sum;
    };
    REQUIRE(poll_until(
        [&] { return stats(doomed.port).processed >= 150 && committed_records() > 0; }, 30s));
    const std::string doomed_instance = instance_of(doomed);
    doomed.process->signal(SIGKILL);
    REQUIRE(doomed.process->wait_exit(10s).has_value());
    const int64_t killed_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
    const std::map<int32_t, int64_t> committed_at_kill = committed(names.group, names.input);
    // The uncommitted window: records processed after the last one-second auto-commit.
    std::vector<nlohmann::json> before = read_outputs(names.output);
    int64_t uncommitted = 0;
    int64_t recent = 0;
    for (const auto& r : before) {
      if (r["instance"] != doomed_instance) continue;
      auto it = committed_at_kill.find(r["partition"].get<int32_t>());
      const int64_t from = it == committed_at_kill.end() || it->second < 0 ? 0 : it->second;
      if (r["offset"].get<int64_t>() >= from) ++uncommitted;
      // Auto-commit runs every second; allow two more for a busy machine.
      if (r["processedAtMs"].get<int64_t>() >= killed_at_ms - 3000) ++recent;
    }

    Service heir = start_stream(dir, names, "heir", {"--start-active"});
    REQUIRE(load->wait_exit(60s) == 0);
    REQUIRE(poll_until(
        [&] {
          nlohmann::json a = audit(dir, names.output, 0, total, -1);
          return a["lost"] == 0;
        },
        60s));
    nlohmann::json audited = audit(dir, names.output, 0, total);
    CHECK(audited["lost"] == 0);
    // Exactly the doomed instance's outputs at or after the committed offsets came again: the
    // uncommitted window, bounded by what it processed since its last auto-commit.
    CHECK(audited["duplicates"] == uncommitted);
    CHECK(uncommitted <= recent);
    CHECK(uncommitted < static_cast<int64_t>(before.size()));
  }

  SECTION("orders-load audit counts a gap and a duplicate; bad flags name themselves") {
    const std::string topic = "audit-me";
    REQUIRE(broker().create_topic(topic, 2).is_ok());
    auto producer = client(RD_KAFKA_PRODUCER, "");
    // seq 0..9 without 4, with 7 twice (once by each version).
    const std::vector<int> written = {0, 1, 2, 3, 5, 6, 7, 7, 8, 9};
    for (size_t i = 0; i < written.size(); ++i) {
      const int seq = written[i];
      const std::string version = i < 7 ? "a" : "b";
      const std::string value =
          "{\"seq\":" + std::to_string(seq) + ",\"version\":\"" + version + "\"}";
      REQUIRE(sluice::examples::produce_copy(producer.get(), topic, std::to_string(seq), value,
                                             nullptr, kTimeoutMs)
                  .is_ok());
    }
    REQUIRE(rd_kafka_flush(producer.get(), kTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR);

    nlohmann::json audited = audit(dir, topic, 0, 10, /*expected_exit=*/1);
    CHECK(audited["expected"] == 10);
    CHECK(audited["records"] == 10);
    CHECK(audited["processed"] == 9);
    CHECK(audited["duplicates"] == 1);
    CHECK(audited["lost"] == 1);
    CHECK(audited["byVersion"] == nlohmann::json{{"a", 7}, {"b", 3}});
    // The same topic with the range that excludes the gap: nothing lost, exit 0.
    CHECK(audit(dir, topic, 5, 5)["lost"] == 0);

    LoadRun remote =
        run_load(dir, {"--kafka-brokers", "192.0.2.1:9092", "--topic", "orders", "--count", "1"});
    CHECK(remote.code == 2);
    CHECK_THAT(remote.err, Catch::Contains("--kafka-brokers") && Catch::Contains("loopback"));
    LoadRun bad_range = run_load(dir, {"--kafka-brokers", broker().bootstrap_servers(),
                                       "--audit-topic", topic, "--expect-seq", "ten"});
    CHECK(bad_range.code == 2);
    CHECK_THAT(bad_range.err, Catch::Contains("--expect-seq"));
  }
}
