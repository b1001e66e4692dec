// The Kafka test peer is a real Apache Kafka broker: librdkafka (Debian's, the C API the kafka
// analysis provider uses) produces to it, consumes from it in a consumer group, commits, and
// reads back the group's committed offsets and the partitions' high watermarks. Consumer lag
// (high watermark - committed offset) is then checked against what this test itself produced
// and consumed. Without the peer, the fixture fails, naming `make peers`.
#include <librdkafka/rdkafka.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/kafka/kafka_broker.h"
#include "tests/support/kafka/kafka_test_client.h"
#include "tests/support/process/test_process.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using sluice::Status;

namespace {

constexpr int kPartitions = 6;
constexpr int kFirstBatch = 10'000;
constexpr int kSecondBatch = 500;
constexpr int kTimeoutMs = 30'000;

using sluice::analysis::RdKafkaPtr;

// A client (tests/support/kafka/kafka_test_client.h) or the test fails with the reason.
RdKafkaPtr<rd_kafka_t> client_or_fail(
    rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& settings,
    Deliveries* deliveries = nullptr) {
  auto made = make_client(type, settings, deliveries);
  INFO(made.status().message());
  REQUIRE(made.is_ok());
  return std::move(made).value();
}

// Produces messages first..first+count-1 with keys "order-<i>" (spread over the partitions by
// librdkafka's key hash) and waits for every delivery report.
void produce(rd_kafka_t* producer, const std::string& topic, int first, int count) {
  for (int i = first; i < first + count; ++i) {
    std::string key = "order-" + std::to_string(i);
    std::string value = "payload-" + std::to_string(i);
    rd_kafka_vu_t vus[4];
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem.ptr = key.data();
    vus[1].u.mem.size = key.size();
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem.ptr = value.data();
    vus[2].u.mem.size = value.size();
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    for (;;) {
      RdKafkaPtr<rd_kafka_error_t> error(rd_kafka_produceva(producer, vus, 4));
      if (!error) break;
      INFO("produce " << key << ": " << rd_kafka_error_string(error.get()));
      REQUIRE(rd_kafka_error_code(error.get()) == RD_KAFKA_RESP_ERR__QUEUE_FULL);
      rd_kafka_poll(producer, 100);  // serve delivery reports to make room
    }
    rd_kafka_poll(producer, 0);
  }
  REQUIRE(rd_kafka_flush(producer, kTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR);
}

struct Consumed {
  int messages = 0;
  std::map<int32_t, int> per_partition;
  std::set<std::string> keys;
  std::set<std::pair<int32_t, int64_t>> positions;  // (partition, offset), to catch duplicates
  std::vector<std::string> errors;
};

// Subscribes `consumer` to `topic` and polls until `expected` messages or the deadline.
Consumed consume(rd_kafka_t* consumer, const std::string& topic, int expected,
                 std::chrono::seconds budget) {
  REQUIRE(rd_kafka_poll_set_consumer(consumer) == RD_KAFKA_RESP_ERR_NO_ERROR);
  RdKafkaPtr<rd_kafka_topic_partition_list_t> subscription(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(subscription.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  REQUIRE(rd_kafka_subscribe(consumer, subscription.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);

  Consumed consumed;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  while (consumed.messages < expected && std::chrono::steady_clock::now() < deadline) {
    RdKafkaPtr<rd_kafka_message_t> message(rd_kafka_consumer_poll(consumer, 200));
    if (!message) continue;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      consumed.errors.push_back(rd_kafka_message_errstr(message.get()));
      continue;
    }
    ++consumed.messages;
    ++consumed.per_partition[message->partition];
    consumed.keys.emplace(static_cast<const char*>(message->key), message->key_len);
    consumed.positions.emplace(message->partition, message->offset);
  }
  return consumed;
}

// The group's committed offset per partition, via the admin API (OffsetFetch).
std::map<int32_t, int64_t> committed_offsets(rd_kafka_t* admin, const std::string& group,
                                             const std::string& topic) {
  RdKafkaPtr<rd_kafka_topic_partition_list_t> partitions(
      rd_kafka_topic_partition_list_new(kPartitions));
  for (int32_t p = 0; p < kPartitions; ++p) {
    rd_kafka_topic_partition_list_add(partitions.get(), topic.c_str(), p);
  }
  rd_kafka_ListConsumerGroupOffsets_t* request =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), partitions.get());
  RdKafkaPtr<rd_kafka_ListConsumerGroupOffsets_t> request_owner(request);
  RdKafkaPtr<rd_kafka_queue_t> queue(rd_kafka_queue_new(admin));
  rd_kafka_ListConsumerGroupOffsets(admin, &request, 1, nullptr, queue.get());

  RdKafkaPtr<rd_kafka_event_t> event(rd_kafka_queue_poll(queue.get(), kTimeoutMs));
  REQUIRE(event);
  INFO("ListConsumerGroupOffsets: " << rd_kafka_event_error_string(event.get()));
  REQUIRE(rd_kafka_event_error(event.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);
  const rd_kafka_ListConsumerGroupOffsets_result_t* result =
      rd_kafka_event_ListConsumerGroupOffsets_result(event.get());
  REQUIRE(result != nullptr);
  size_t group_count = 0;
  const rd_kafka_group_result_t** groups =
      rd_kafka_ListConsumerGroupOffsets_result_groups(result, &group_count);
  REQUIRE(group_count == 1);
  const rd_kafka_error_t* group_error = rd_kafka_group_result_error(groups[0]);
  INFO("group error: " << (group_error ? rd_kafka_error_string(group_error) : "none"));
  REQUIRE(group_error == nullptr);
  CHECK(std::string(rd_kafka_group_result_name(groups[0])) == group);

  std::map<int32_t, int64_t> offsets;
  const rd_kafka_topic_partition_list_t* listed = rd_kafka_group_result_partitions(groups[0]);
  REQUIRE(listed != nullptr);
  for (int i = 0; i < listed->cnt; ++i) {
    const rd_kafka_topic_partition_t& entry = listed->elems[i];
    INFO("partition " << entry.partition << ": " << rd_kafka_err2str(entry.err));
    REQUIRE(entry.err == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(std::string(entry.topic) == topic);
    offsets[entry.partition] = entry.offset;
  }
  return offsets;
}

// The high watermark (next offset to be written) per partition.
std::map<int32_t, int64_t> high_watermarks(rd_kafka_t* client, const std::string& topic) {
  std::map<int32_t, int64_t> highs;
  for (int32_t p = 0; p < kPartitions; ++p) {
    int64_t low = -1;
    int64_t high = -1;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(client, topic.c_str(), p, &low, &high, kTimeoutMs);
    INFO("watermarks of partition " << p << ": " << rd_kafka_err2str(err));
    REQUIRE(err == RD_KAFKA_RESP_ERR_NO_ERROR);
    CHECK(low == 0);
    highs[p] = high;
  }
  return highs;
}

int64_t sum(const std::map<int32_t, int64_t>& values) {
  int64_t total = 0;
  for (const auto& [partition, value] : values) total += value;
  return total;
}

// Sets an environment variable for one scope and restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("Kafka peer: produce, consume in a group, commit, and the lag is what was left") {
  std::unique_ptr<KafkaBroker> running;
  {
    auto started = KafkaBroker::start();
    INFO(started.status().message());
    REQUIRE(started.is_ok());
    running = std::move(started).value();
  }
  KafkaBroker& broker = *running;
  const std::string bootstrap = broker.bootstrap_servers();
  CHECK(bootstrap == "127.0.0.1:" + std::to_string(broker.port()));

  const std::string topic = "orders";
  const std::string group = "sluice-lag-check";
  {
    Status created = broker.create_topic(topic, kPartitions);
    INFO(created.message());
    REQUIRE(created.is_ok());
  }

  Deliveries deliveries;
  auto producer = client_or_fail(
      RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}}, &deliveries);
  produce(producer.get(), topic, 0, kFirstBatch);
  {
    INFO("first delivery error: " << deliveries.first_error);
    REQUIRE(deliveries.failed == 0);
    REQUIRE(deliveries.delivered == kFirstBatch);
  }

  {
    auto consumer = client_or_fail(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                       {"group.id", group},
                                                       {"auto.offset.reset", "earliest"},
                                                       {"enable.auto.commit", "false"}});
    Consumed consumed = consume(consumer.get(), topic, kFirstBatch, 60s);
    for (const auto& e : consumed.errors) UNSCOPED_INFO("consumer error: " << e);
    REQUIRE(consumed.messages == kFirstBatch);
    CHECK(consumed.keys.size() == static_cast<size_t>(kFirstBatch));
    CHECK(consumed.positions.size() == static_cast<size_t>(kFirstBatch));
    CHECK(consumed.per_partition.size() == static_cast<size_t>(kPartitions));

    // Synchronous commit of the positions of the current assignment (last consumed + 1).
    REQUIRE(rd_kafka_commit(consumer.get(), nullptr, 0) == RD_KAFKA_RESP_ERR_NO_ERROR);
    REQUIRE(rd_kafka_consumer_close(consumer.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);

    auto admin = client_or_fail(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
    std::map<int32_t, int64_t> highs = high_watermarks(admin.get(), topic);
    std::map<int32_t, int64_t> committed = committed_offsets(admin.get(), group, topic);
    CHECK(sum(highs) == kFirstBatch);
    REQUIRE(committed.size() == static_cast<size_t>(kPartitions));
    for (int32_t p = 0; p < kPartitions; ++p) {
      INFO("partition " << p);
      CHECK(highs[p] > 0);
      CHECK(consumed.per_partition[p] == highs[p]);  // every message of p, once
      CHECK(committed[p] == highs[p]);               // so its lag is 0
    }
  }

  produce(producer.get(), topic, kFirstBatch, kSecondBatch);
  {
    INFO("first delivery error: " << deliveries.first_error);
    REQUIRE(deliveries.failed == 0);
    REQUIRE(deliveries.delivered == kFirstBatch + kSecondBatch);
  }
  auto admin = client_or_fail(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
  {
    std::map<int32_t, int64_t> highs = high_watermarks(admin.get(), topic);
    std::map<int32_t, int64_t> committed = committed_offsets(admin.get(), group, topic);
    CHECK(sum(highs) == kFirstBatch + kSecondBatch);
    REQUIRE(committed.size() == static_cast<size_t>(kPartitions));
    int64_t lag = 0;
    for (int32_t p = 0; p < kPartitions; ++p) {
      INFO("partition " << p);
      CHECK(committed[p] <= highs[p]);
      lag += highs[p] - committed[p];
    }
    CHECK(lag == kSecondBatch);
  }

  // A crash (SIGKILL) and a restart on the same port and data dir: the log and the group's
  // offsets survive, so the lag is still exactly the second batch.
  producer.reset();
  admin.reset();
  REQUIRE(broker.kill().is_ok());
  CHECK(broker.pid() == -1);
  {
    Status restarted = broker.restart();
    INFO(restarted.message());
    REQUIRE(restarted.is_ok());
  }
  CHECK(broker.bootstrap_servers() == bootstrap);
  admin = client_or_fail(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}});
  std::map<int32_t, int64_t> highs = high_watermarks(admin.get(), topic);
  std::map<int32_t, int64_t> committed = committed_offsets(admin.get(), group, topic);
  CHECK(sum(highs) == kFirstBatch + kSecondBatch);
  int64_t lag = 0;
  for (const auto& [partition, offset] : committed) lag += highs[partition] - offset;
  CHECK(lag == kSecondBatch);

  admin.reset();
  Status stopped = broker.stop();
  INFO(stopped.message());
  CHECK(stopped.is_ok());
}

TEST_CASE("Kafka peer: without the jars the fixture fails and names `make peers`") {
  TempDir empty_peers;
  REQUIRE_FALSE(empty_peers.path().empty());
  ScopedEnv peers_dir("SLUICE_PEERS_DIR", empty_peers.path());

  auto started = KafkaBroker::start();
  REQUIRE_FALSE(started.is_ok());
  const Status& status = started.status();
  CHECK(status.code() == sluice::StatusCode::kFailedPrecondition);
  CHECK_THAT(status.message(), Catch::Contains("kafka/libs") && Catch::Contains("make peers") &&
                                   Catch::Contains(empty_peers.path()));
  CHECK(status.message().find('\n') == std::string::npos);
}
