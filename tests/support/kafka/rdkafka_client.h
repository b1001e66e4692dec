// Owning handles for librdkafka objects and one way to make a client, shared by the Kafka test
// fixtures (the broker's readiness check, the processed-topic reader, the lag sampler).
//
// Threads: a handle is used from one thread at a time, as librdkafka allows for these calls.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace sluice::testing {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(rd_kafka_AdminOptions_t* p) const { rd_kafka_AdminOptions_destroy(p); }
  void operator()(rd_kafka_NewTopic_t* p) const { rd_kafka_NewTopic_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
};
template <typename T>
using RdKafkaPtr = std::unique_ptr<T, RdKafkaDeleter>;

using RdKafkaSettings = std::vector<std::pair<std::string, std::string>>;

// A producer or consumer handle on `bootstrap_servers` with short reconnect back-offs (the
// default grows to 10 s, which would hide a broker that has just come up) and librdkafka's own
// log lines discarded (a test reports errors as values). `settings` are applied after those;
// a setting librdkafka rejects is an error that names it.
Result<RdKafkaPtr<rd_kafka_t>> new_rdkafka_client(rd_kafka_type_t type,
                                                  const std::string& bootstrap_servers,
                                                  const RdKafkaSettings& settings = {});

// The partition count of `topic` from the broker's metadata (bounded by `timeout_ms`).
Result<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

}  // namespace sluice::testing
