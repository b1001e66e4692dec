// librdkafka (C API) pieces shared by orders-stream and orders-load: owning handles, a client
// built from a list of settings, the loopback check for broker lists, a bounded metadata probe,
// a produce call that waits for room in the queue, and partition watermarks.
//
// Threads: the functions are stateless; a handle is used as librdkafka allows (a producer from
// any thread, a consumer from the one thread that polls it).
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace sluice::examples {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
  void operator()(rd_kafka_error_t* p) const { rd_kafka_error_destroy(p); }
};
template <typename T>
using RdKafkaPtr = std::unique_ptr<T, RdKafkaDeleter>;

using KafkaSettings = std::vector<std::pair<std::string, std::string>>;

// A client of `type` with `settings` (a bad name or value fails naming it). `configure`, when
// set, adds callbacks and the opaque to the configuration before the handle is made.
Result<RdKafkaPtr<rd_kafka_t>> make_kafka_client(
    rd_kafka_type_t type, const KafkaSettings& settings,
    const std::function<void(rd_kafka_conf_t*)>& configure = {});

// OK when `brokers` is a non-empty comma-separated HOST:PORT list whose every host resolves to
// a loopback address (the examples talk to loopback only); else the reason, naming `flag`.
Status check_loopback_brokers(const std::string& brokers, const std::string& flag);

// One metadata request for the broker list, bounded by `timeout_ms`: OK once a broker answered.
Status probe_metadata(rd_kafka_t* rk, int timeout_ms);

// Produces one record (key and value copied) with `opaque` for its delivery report. While the
// local queue is full it serves delivery reports (rd_kafka_poll) and tries again, for at most
// `timeout_ms`.
Status produce_copy(rd_kafka_t* producer, const std::string& topic, const std::string& key,
                    const std::string& value, void* opaque, int timeout_ms);

// The partition count of `topic` from the broker's metadata (an error if it does not exist).
Result<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

// The high watermark (the next offset to be written) of every partition of `topic`.
Result<std::map<int32_t, int64_t>> high_watermarks(rd_kafka_t* rk, const std::string& topic,
                                                   int timeout_ms);

// Reads every partition of `topic` from its beginning up to the high watermark it had when the
// call began, calling `each` for every record (in partition order, not across partitions).
// `consumer` must be a consumer handle with enable.partition.eof=true that is not subscribed;
// the call assigns it. Fails after `timeout_ms` or on a consume error.
Status read_to_high_watermarks(rd_kafka_t* consumer, const std::string& topic, int timeout_ms,
                               const std::function<void(const rd_kafka_message_t&)>& each);

// The committed offset of each partition of `highs` for the group of `consumer` (its group.id;
// it need not be subscribed); -1001 (RD_KAFKA_OFFSET_INVALID) where nothing is committed.
Result<std::map<int32_t, int64_t>> committed_offsets(rd_kafka_t* consumer, const std::string& topic,
                                                     const std::map<int32_t, int64_t>& highs,
                                                     int timeout_ms);

}  // namespace sluice::examples
