#include "examples/services/orders-load/kafka_modes.h"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "examples/services/common/kafka_client.h"

namespace sluice::examples {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kRequestTimeoutMs = 10'000;
constexpr int kFlushTimeoutMs = 60'000;
constexpr int kAuditTimeoutMs = 120'000;

struct Deliveries {
  uint64_t delivered = 0;
  uint64_t failed = 0;
  std::string first_error;
};

void count_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* deliveries = static_cast<Deliveries*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++deliveries->delivered;
    return;
  }
  ++deliveries->failed;
  if (deliveries->first_error.empty()) deliveries->first_error = rd_kafka_err2str(message->err);
}

// True once SIGINT or SIGTERM arrived (they are blocked; this waits up to `wait` for one).
bool signalled(std::chrono::nanoseconds wait) {
  sigset_t termination;
  sigemptyset(&termination);
  sigaddset(&termination, SIGTERM);
  sigaddset(&termination, SIGINT);
  if (wait.count() < 0) wait = std::chrono::nanoseconds(0);
  const timespec ts{static_cast<time_t>(wait.count() / 1'000'000'000),
                    static_cast<long>(wait.count() % 1'000'000'000)};
  return sigtimedwait(&termination, nullptr, &ts) > 0;
}

RdKafkaPtr<rd_kafka_t> client_or_die(rd_kafka_type_t type, const KafkaSettings& settings,
                                     const std::function<void(rd_kafka_conf_t*)>& configure = {}) {
  auto client = make_kafka_client(type, settings, configure);
  if (!client) die(client.status().message());
  return std::move(client).value();
}

int produce(const Flags& flags, const std::string& brokers, bool json_output) {
  const std::string topic = flags.get("topic", nullptr, "orders");
  if (topic.empty()) die("--topic must not be empty");
  const double rate = flags.get_double("rate", nullptr, 100, 0.1, 100'000);
  if (!flags.has("count")) die("--count N is required with --kafka-brokers and --topic");
  const long count = flags.get_int("count", nullptr, 0, 1, 100'000'000);
  const long start_seq = flags.get_int("start-seq", nullptr, 0, 0, 1'000'000'000'000L);

  Deliveries deliveries;
  auto producer = client_or_die(RD_KAFKA_PRODUCER,
                                {{"bootstrap.servers", brokers},
                                 {"client.id", "orders-load"},
                                 {"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"linger.ms", "5"},
                                 {"message.timeout.ms", "30000"}},
                                [&](rd_kafka_conf_t* conf) {
                                  rd_kafka_conf_set_opaque(conf, &deliveries);
                                  rd_kafka_conf_set_dr_msg_cb(conf, count_delivery);
                                });
  const auto started = SteadyClock::now();
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  long sent = 0;
  bool interrupted = false;
  std::string produce_error;
  for (; sent < count; ++sent) {
    const auto due = started + std::chrono::duration_cast<SteadyClock::duration>(interval * sent);
    if (signalled(due - SteadyClock::now())) {
      interrupted = true;
      break;
    }
    const std::string seq = std::to_string(start_seq + sent);
    const std::string value =
        "{\"seq\":" + seq + ",\"sentAtMs\":" + std::to_string(unix_ms()) + "}";
    if (Status s = produce_copy(producer.get(), topic, seq, value, nullptr, kFlushTimeoutMs); !s) {
      produce_error = s.message();
      break;
    }
    rd_kafka_poll(producer.get(), 0);
  }
  rd_kafka_flush(producer.get(), kFlushTimeoutMs);
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  const bool all_delivered =
      produce_error.empty() && deliveries.failed == 0 && deliveries.delivered == uint64_t(sent);
  const long last_seq = start_seq + sent - 1;
  if (json_output) {
    std::printf(
        "{\"produced\":%llu,\"failed\":%llu,\"firstSeq\":%ld,\"lastSeq\":%ld,"
        "\"seconds\":%.3f,\"requested\":%ld,\"interrupted\":%s}\n",
        static_cast<unsigned long long>(deliveries.delivered),
        static_cast<unsigned long long>(sent - static_cast<long>(deliveries.delivered)), start_seq,
        last_seq, seconds, count, interrupted ? "true" : "false");
  } else {
    std::printf("produced %llu of %ld records (seq %ld..%ld) to %s in %.1f s (%.0f/s)%s\n",
                static_cast<unsigned long long>(deliveries.delivered), count, start_seq, last_seq,
                topic.c_str(), seconds, static_cast<double>(sent) / std::max(seconds, 0.001),
                interrupted ? "; interrupted" : "");
  }
  if (!produce_error.empty()) std::fprintf(stderr, "orders-load: %s\n", produce_error.c_str());
  if (!deliveries.first_error.empty()) {
    std::fprintf(stderr, "orders-load: %llu records not delivered; first error: %s\n",
                 static_cast<unsigned long long>(sent - static_cast<long>(deliveries.delivered)),
                 deliveries.first_error.c_str());
  }
  return all_delivered ? 0 : 1;
}

struct AuditCounts {
  uint64_t records = 0;
  std::set<int64_t> seqs;
  std::map<std::string, uint64_t> by_version;
  uint64_t unreadable = 0;
};

int audit(const Flags& flags, const std::string& brokers, bool json_output) {
  const std::string topic = flags.get("audit-topic", nullptr, "");
  if (topic.empty()) die("--audit-topic must not be empty");
  const std::string expect = flags.get("expect-seq", nullptr, "");
  const size_t colon = expect.find(':');
  char* end = nullptr;
  const long long first = std::strtoll(expect.c_str(), &end, 10);
  const long long expected =
      colon == std::string::npos ? -1 : std::strtoll(expect.c_str() + colon + 1, &end, 10);
  if (colon == std::string::npos || end == nullptr || *end != '\0' || first < 0 || expected < 0) {
    die("--expect-seq must be S:N (first seq and count, e.g. 0:1000), got '" + expect + "'");
  }

  auto consumer = client_or_die(RD_KAFKA_CONSUMER, {{"bootstrap.servers", brokers},
                                                    {"group.id", "orders-load-audit"},
                                                    {"enable.auto.commit", "false"},
                                                    {"enable.partition.eof", "true"}});
  AuditCounts counts;
  Status read = read_to_high_watermarks(
      consumer.get(), topic, kAuditTimeoutMs, [&](const rd_kafka_message_t& message) {
        ++counts.records;
        const auto* payload = static_cast<const char*>(message.payload);
        auto value = nlohmann::json::parse(payload, payload + message.len, nullptr, false);
        if (!value.is_object() || !value.contains("seq") || !value["seq"].is_number_integer()) {
          ++counts.unreadable;
          return;
        }
        counts.seqs.insert(value["seq"].get<int64_t>());
        const std::string version = value.contains("version") && value["version"].is_string()
                                        ? value["version"].get<std::string>()
                                        : "unknown";
        ++counts.by_version[version];
      });
  if (!read) die(read.message());
  uint64_t lost = 0;
  for (long long seq = first; seq < first + expected; ++seq) lost += counts.seqs.count(seq) == 0;
  const uint64_t duplicates = counts.records - counts.unreadable - counts.seqs.size();
  nlohmann::json by_version = nlohmann::json::object();
  for (const auto& [version, n] : counts.by_version) by_version[version] = n;
  if (json_output) {
    nlohmann::json out = {{"expected", expected},
                          {"processed", counts.seqs.size()},
                          {"records", counts.records},
                          {"duplicates", duplicates},
                          {"lost", lost},
                          {"byVersion", by_version},
                          {"unreadable", counts.unreadable}};
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::string versions;
    for (const auto& [version, n] : counts.by_version) {
      versions += (versions.empty() ? "" : ", ") + version + " " + std::to_string(n);
    }
    std::printf(
        "audit of %s: %llu records, %zu distinct seqs (%lld expected from %lld); "
        "%llu duplicates, %llu lost; by version: %s\n",
        topic.c_str(), static_cast<unsigned long long>(counts.records), counts.seqs.size(),
        expected, first, static_cast<unsigned long long>(duplicates),
        static_cast<unsigned long long>(lost), versions.empty() ? "-" : versions.c_str());
  }
  return lost == 0 ? 0 : 1;
}

int lag(const Flags& flags, const std::string& brokers, bool json_output) {
  const std::string topic = flags.get("topic", nullptr, "orders");
  const std::string group = flags.get("lag-group", nullptr, "");
  if (group.empty()) die("--lag-group must not be empty");
  // A consumer with the group's id reads its committed offsets without joining it.
  auto consumer = client_or_die(
      RD_KAFKA_CONSUMER,
      {{"bootstrap.servers", brokers}, {"group.id", group}, {"enable.auto.commit", "false"}});
  auto highs = high_watermarks(consumer.get(), topic, kRequestTimeoutMs);
  if (!highs) die(highs.status().message());
  auto committed = committed_offsets(consumer.get(), topic, highs.value(), kRequestTimeoutMs);
  if (!committed) die("group " + group + ": " + committed.status().message());
  int64_t total = 0;
  nlohmann::json partitions = nlohmann::json::object();
  for (auto [partition, from] : committed.value()) {
    if (from < 0) {  // nothing committed: the group would start at the earliest retained offset
      int64_t low = 0;
      int64_t high = 0;
      rd_kafka_query_watermark_offsets(consumer.get(), topic.c_str(), partition, &low, &high,
                                       kRequestTimeoutMs);
      from = low;
    }
    const int64_t partition_lag = std::max<int64_t>(0, highs.value()[partition] - from);
    total += partition_lag;
    partitions[std::to_string(partition)] = partition_lag;
  }
  if (json_output) {
    std::printf(
        "%s\n",
        nlohmann::json(
            {{"group", group}, {"topic", topic}, {"lag", total}, {"partitions", partitions}})
            .dump()
            .c_str());
  } else {
    std::printf("lag of group %s on %s: %lld\n", group.c_str(), topic.c_str(),
                static_cast<long long>(total));
  }
  return 0;
}

}  // namespace

std::set<std::string> kafka_flag_names() {
  return {"kafka-brokers", "topic",       "rate",       "count",
          "start-seq",     "audit-topic", "expect-seq", "lag-group"};
}

const char* const kKafkaUsage =
    R"(Kafka modes (brokers on loopback only):

  orders-load --kafka-brokers HOST:PORT --topic orders --rate R --count N [--start-seq S]
      produce N records (seq S..S+N-1, default S=0) at a steady R per second, key = seq,
      value {"seq":N,"sentAtMs":T}; idempotent, acks=all; waits for every delivery.
      Exit 0 only if every record sent was delivered.
  orders-load --kafka-brokers HOST:PORT --audit-topic orders-processed --expect-seq S:N
      read the topic from the beginning to its high watermarks and count records, distinct
      seqs, duplicates, lost seqs of S..S+N-1 and records per version. Exit 0 only if none lost.
  orders-load --kafka-brokers HOST:PORT --lag-group G [--topic orders]
      the group's lag: high watermark - committed offset, summed over the partitions.

  --output text|json       the summary (default text)
)";

int run_kafka_mode(const Flags& flags, bool json_output) {
  const std::string brokers = flags.get("kafka-brokers", nullptr, "");
  if (Status s = check_loopback_brokers(brokers, "--kafka-brokers"); !s) die(s.message());
  if (flags.has("audit-topic")) return audit(flags, brokers, json_output);
  if (flags.has("lag-group")) return lag(flags, brokers, json_output);
  return produce(flags, brokers, json_output);
}

}  // namespace sluice::examples
