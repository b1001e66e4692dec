// Blocking reads of a consumer group's lag on one topic through librdkafka (C API), for the
// kafka metric provider (providers/kafka_provider.cc), which calls them on a thread it owns.
//
// One read is three broker exchanges, each bounded by what is left of the caller's budget:
// the topic's metadata (its partitions), the group's committed offsets
// (rd_kafka_ListConsumerGroupOffsets) and the partitions' log-end offsets (high watermarks) in
// one batched ListOffsets request (rd_kafka_offsets_for_times with RD_KAFKA_OFFSET_END; per
// partition rd_kafka_query_watermark_offsets would be two round trips for each of a topic's
// 1,000 partitions). Partitions without a committed offset count from the earliest retained
// offset (a second batched request with RD_KAFKA_OFFSET_BEGINNING, only when there are some).
//
// Threading: a KafkaConnection is used by one thread at a time; librdkafka's own threads call
// only its log callback, which forwards to spdlog at warning level, at most one line a minute
// per bootstrapServers string in the process (a broker that is down must not flood the log).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace sluice::analysis {

struct PartitionLag {
  int32_t partition = 0;
  int64_t committed = -1;  // -1: the group has no committed offset for it
  int64_t earliest = 0;    // read only for partitions without a commit, else 0
  int64_t end = 0;         // high watermark
  int64_t lag = 0;         // end - committed, or end - earliest without a commit; never < 0
};

struct TopicLag {
  std::vector<PartitionLag> partitions;  // by partition number
  int64_t total = 0;
  int64_t max_partition = 0;
  int uncommitted_partitions = 0;
};

class KafkaConnection {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  // Creates the client (no broker is contacted yet); its requests time out after
  // `request_timeout` (socket.timeout.ms), so destroying it never waits longer for one in
  // flight. Fails only for a configuration librdkafka rejects.
  static Result<std::unique_ptr<KafkaConnection>> open(const std::string& bootstrap_servers,
                                                       std::chrono::milliseconds request_timeout);
  ~KafkaConnection();
  KafkaConnection(const KafkaConnection&) = delete;
  KafkaConnection& operator=(const KafkaConnection&) = delete;

  // The group's lag on `topic`. Errors: NotFound "topic X does not exist"; Unavailable with
  // librdkafka's reason (broker down, timed out, ...) when `deadline` passes or a call fails.
  Result<TopicLag> read_lag(const std::string& group, const std::string& topic, Deadline deadline);

  struct Impl;

 private:
  explicit KafkaConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::analysis
