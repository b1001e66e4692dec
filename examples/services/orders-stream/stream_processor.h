// The consuming core of orders-stream: one thread owns the Kafka consumer and the producer of
// the output topic, processes records one at a time, and carries out activate/deactivate
// requests made by HTTP threads (as orders-worker's Worker does for RabbitMQ).
//
// At-least-once without loss: offsets are stored (enable.auto.offset.store=false) only once
// the output record of that input and of every earlier input of its partition was acknowledged
// by the broker (acks=all, idempotent producer), and only stored offsets are committed (every
// second, and synchronously on revoke). A revoke (cooperative-sticky: only the partitions that
// move) first flushes the producer, so every output in flight is acknowledged and its offset
// stored, then commits synchronously, then unassigns: a clean hand-over reprocesses nothing.
//
// Deactivate closes the consumer (rd_kafka_consumer_close: revoke through the same callback,
// commit, LeaveGroup) and makes a fresh, unsubscribed handle for the next activate. Close,
// rather than unsubscribe, because close returns only once the member has left the group, so
// the answer to /admin/deactivate really means "owns no partitions", while unsubscribe leaves
// asynchronously; a new handle costs one loopback connection.
//
// Threads: start()/stop() by the owner; activate()/deactivate()/counters() from any thread;
// everything librdkafka on the processing thread (the delivery reports and the rebalance
// callback too: they are served by rd_kafka_poll/flush/consumer_poll/close, called there).
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "examples/services/common/kafka_client.h"
#include "examples/services/common/service_util.h"

namespace sluice::examples {

struct StreamOptions {
  std::string brokers;
  std::string topic = "orders";
  std::string output_topic = "orders-processed";
  std::string group = "orders-stream";
  std::string version = "dev";
  std::string instance;  // "<pid>@<port>", written into every output record
  double fail_rate = 0;  // probability that one processing attempt fails (then retried)
  int latency_ms = 0;    // work per attempt
  bool start_active = false;
};

struct StreamCounters {
  uint64_t processed = 0;   // inputs whose output was produced
  uint64_t failed = 0;      // failed attempts (each retried)
  uint64_t rebalances = 0;  // rebalance callbacks (assign or revoke)
  bool active = false;      // subscribed to the topic (a group member)
  int assigned_partitions = 0;
  bool healthy = false;  // the consumer handle exists and the broker answered metadata
};

struct StreamDeactivateResult {
  bool done = false;  // false: timed out (the deactivation goes on in the background)
  uint64_t processed = 0;
  uint64_t in_flight_finished = 0;  // outputs awaiting acknowledgement when it began
};

class StreamProcessor {
 public:
  explicit StreamProcessor(StreamOptions options);
  ~StreamProcessor();  // stop()
  StreamProcessor(const StreamProcessor&) = delete;
  StreamProcessor& operator=(const StreamProcessor&) = delete;

  void start();
  // Leaves the group as deactivate() does (bounded by `wait_ms`), then ends the thread.
  void stop();

  // Subscribes (joins the group); idempotent. Waits up to `wait_ms` for the subscription.
  bool activate(int wait_ms);
  // Stops fetching, finishes the record in progress, flushes, commits, leaves the group; then
  // returns. After `wait_ms` it returns done=false, and a record still being retried is
  // abandoned uncommitted (the next owner processes it).
  StreamDeactivateResult deactivate(int wait_ms);

  StreamCounters counters() const;

 private:
  // An output record awaiting its delivery report; owned by librdkafka's opaque until then.
  struct PendingOutput {
    int32_t partition;
    int64_t offset;
    std::string key;
    std::string value;
  };

  void run();
  bool connect();  // producer, metadata, consumer; false while the broker is away
  Status create_consumer();
  void subscribe();
  void leave_group();  // consumer_close (revokes through on_rebalance), then a fresh handle
  void process(rd_kafka_message_t* message);
  bool attempt_succeeds(int attempt);  // one processing attempt, with its latency and failure
  bool abandon_requested();
  void produce_output(PendingOutput* output);

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void delivery_cb(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void on_delivery(const rd_kafka_message_t* message);
  // Flushes the producer, so every output is acknowledged and its offset stored; returns how
  // many outputs were in flight.
  uint64_t finish_in_flight();
  void commit_stored(const char* why);
  void update_assignment_count();

  const StreamOptions options_;
  std::thread thread_;
  RateLimitedLog log_{30'000};

  // Processing thread only.
  RdKafkaPtr<rd_kafka_t> producer_;
  RdKafkaPtr<rd_kafka_t> consumer_;
  bool subscribed_ = false;
  uint64_t in_flight_ = 0;  // outputs produced, delivery not yet reported
  // Per input partition: offsets whose output is in flight (false) or acknowledged (true).
  // The offset stored is one past the longest acknowledged prefix.
  std::map<int32_t, std::map<int64_t, bool>> unsettled_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  bool exit_ = false;
  bool desired_active_ = false;
  uint64_t deactivate_requested_ = 0;
  uint64_t deactivate_completed_ = 0;
  std::chrono::steady_clock::time_point abandon_after_{};
  uint64_t last_in_flight_finished_ = 0;
  StreamCounters counters_;
};

}  // namespace sluice::examples
