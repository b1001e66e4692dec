#include "examples/services/orders-stream/stream_processor.h"

#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

namespace sluice::examples {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr int kPollMs = 100;
constexpr int kRetryBackoffMs = 20;
// Flushing the producer on a revoke waits this long for the outputs in flight.
constexpr int kFlushTimeoutMs = 30'000;
constexpr int kMetadataTimeoutMs = 2000;

// The input's sequence number: the key in decimal, else "seq" in the JSON value, else -1.
int64_t sequence_of(const rd_kafka_message_t* message, const std::string& key) {
  if (!key.empty()) {
    char* end = nullptr;
    long long seq = std::strtoll(key.c_str(), &end, 10);
    if (end != nullptr && *end == '\0') return seq;
  }
  const auto* payload = static_cast<const char*>(message->payload);
  auto value = nlohmann::json::parse(payload, payload + message->len, nullptr, false);
  if (value.is_object() && value.contains("seq") && value["seq"].is_number_integer()) {
    return value["seq"].get<int64_t>();
  }
  return -1;
}

std::string partition_names(const rd_kafka_topic_partition_list_t* partitions) {
  std::string out;
  for (int i = 0; i < partitions->cnt; ++i) {
    out += (i == 0 ? "" : ",") + std::string(partitions->elems[i].topic) + "[" +
           std::to_string(partitions->elems[i].partition) + "]";
  }
  return out.empty() ? "nothing" : out;
}

}  // namespace

StreamProcessor::StreamProcessor(StreamOptions options) : options_(std::move(options)) {
  desired_active_ = options_.start_active;
}

StreamProcessor::~StreamProcessor() { stop(); }

void StreamProcessor::start() {
  thread_ = std::thread([this] { run(); });
}

void StreamProcessor::stop() {
  {
    std::lock_guard lock(mu_);
    if (!exit_) abandon_after_ = SteadyClock::now() + milliseconds(kFlushTimeoutMs);
    exit_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool StreamProcessor::activate(int wait_ms) {
  std::unique_lock lock(mu_);
  desired_active_ = true;
  cv_.notify_all();
  cv_.wait_for(lock, milliseconds(wait_ms), [&] { return counters_.active || exit_; });
  return counters_.active;
}

StreamDeactivateResult StreamProcessor::deactivate(int wait_ms) {
  std::unique_lock lock(mu_);
  desired_active_ = false;
  const uint64_t generation = ++deactivate_requested_;
  abandon_after_ = SteadyClock::now() + milliseconds(wait_ms);
  cv_.notify_all();
  const bool done = cv_.wait_for(lock, milliseconds(wait_ms),
                                 [&] { return deactivate_completed_ >= generation; });
  return {done, counters_.processed, last_in_flight_finished_};
}

StreamCounters StreamProcessor::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void StreamProcessor::run() {
  int backoff_ms = 100;
  while (!connect()) {
    std::unique_lock lock(mu_);
    // Nothing consumes before the first connection, so a deactivation is complete at once.
    deactivate_completed_ = deactivate_requested_;
    cv_.notify_all();
    if (cv_.wait_for(lock, milliseconds(backoff_ms), [&] { return exit_; })) return;
    backoff_ms = std::min(backoff_ms * 2, 2000);
  }
  for (;;) {
    bool want_active;
    bool exiting;
    {
      std::lock_guard lock(mu_);
      exiting = exit_;
      want_active = desired_active_ && !exit_;
    }
    if (want_active && !subscribed_) {
      subscribe();
    } else if (!want_active && subscribed_) {
      leave_group();
      continue;
    }
    if (!subscribed_) {
      std::unique_lock lock(mu_);
      if (deactivate_requested_ > deactivate_completed_) {
        last_in_flight_finished_ = 0;
        deactivate_completed_ = deactivate_requested_;
        cv_.notify_all();
      }
      if (exiting) break;
      lock.unlock();
      rd_kafka_poll(producer_.get(), 0);
      lock.lock();
      cv_.wait_for(lock, milliseconds(kPollMs), [&] {
        return exit_ || desired_active_ != want_active ||
               deactivate_requested_ > deactivate_completed_;
      });
      continue;
    }
    RdKafkaPtr<rd_kafka_message_t> message(rd_kafka_consumer_poll(consumer_.get(), kPollMs));
    if (message) {
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        process(message.get());
      } else {
        log_.log(std::string("consume-") + rd_kafka_err2name(message->err),
                 "orders-stream: " + std::string(rd_kafka_message_errstr(message.get())));
      }
    }
    rd_kafka_poll(producer_.get(), 0);  // delivery reports: they store the offsets
  }
  finish_in_flight();
  consumer_.reset();
  producer_.reset();
  std::lock_guard lock(mu_);
  counters_.healthy = false;
  counters_.active = false;
  cv_.notify_all();
}

bool StreamProcessor::connect() {
  if (!producer_) {
    auto producer =
        make_kafka_client(RD_KAFKA_PRODUCER,
                          {{"bootstrap.servers", options_.brokers},
                           {"client.id", "orders-stream-" + options_.instance},
                           {"enable.idempotence", "true"},
                           {"acks", "all"},
                           {"linger.ms", "2"},
                           {"message.timeout.ms", "30000"},
                           {"reconnect.backoff.ms", "100"},
                           {"reconnect.backoff.max.ms", "1000"}},
                          [this](rd_kafka_conf_t* conf) {
                            rd_kafka_conf_set_opaque(conf, this);
                            rd_kafka_conf_set_dr_msg_cb(conf, &StreamProcessor::delivery_cb);
                          });
    if (!producer) die("orders-stream producer: " + producer.status().message());
    producer_ = std::move(producer).value();
  }
  if (Status s = probe_metadata(producer_.get(), kMetadataTimeoutMs); !s) {
    log_.log("metadata", "orders-stream: no answer from the brokers " + options_.brokers + " (" +
                             s.message() + "); retrying");
    return false;
  }
  if (Status s = create_consumer(); !s) die("orders-stream consumer: " + s.message());
  std::fprintf(stderr, "orders-stream %s: connected to %s; group %s, topic %s -> %s\n",
               options_.version.c_str(), options_.brokers.c_str(), options_.group.c_str(),
               options_.topic.c_str(), options_.output_topic.c_str());
  std::lock_guard lock(mu_);
  counters_.healthy = true;
  cv_.notify_all();
  return true;
}

Status StreamProcessor::create_consumer() {
  // Auto-commit commits only what was stored, and offsets are stored by the delivery reports
  // of the outputs, so the one-second commit never gets ahead of durable results. The short
  // session lets the group take over a crashed member's partitions after 6 s (the broker's
  // minimum), not 45 s.
  auto consumer =
      make_kafka_client(RD_KAFKA_CONSUMER,
                        {{"bootstrap.servers", options_.brokers},
                         {"client.id", "orders-stream-" + options_.instance},
                         {"group.id", options_.group},
                         {"partition.assignment.strategy", "cooperative-sticky"},
                         {"enable.auto.commit", "true"},
                         {"auto.commit.interval.ms", "1000"},
                         {"enable.auto.offset.store", "false"},
                         {"auto.offset.reset", "earliest"},
                         {"allow.auto.create.topics", "true"},
                         {"session.timeout.ms", "6000"},
                         {"heartbeat.interval.ms", "500"},
                         {"fetch.wait.max.ms", "100"},
                         {"reconnect.backoff.ms", "100"},
                         {"reconnect.backoff.max.ms", "1000"}},
                        [this](rd_kafka_conf_t* conf) {
                          rd_kafka_conf_set_opaque(conf, this);
                          rd_kafka_conf_set_rebalance_cb(conf, &StreamProcessor::rebalance_cb);
                        });
  if (!consumer) return consumer.status();
  consumer_ = std::move(consumer).value();
  // Rebalances and errors then arrive through rd_kafka_consumer_poll on this thread.
  rd_kafka_poll_set_consumer(consumer_.get());
  return Status::ok();
}

void StreamProcessor::subscribe() {
  RdKafkaPtr<rd_kafka_topic_partition_list_t> topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), options_.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), topics.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_.log("subscribe",
             "orders-stream: subscribe " + options_.topic + ": " + rd_kafka_err2str(err));
    return;
  }
  subscribed_ = true;
  std::fprintf(stderr, "orders-stream %s: active; joining group %s\n", options_.version.c_str(),
               options_.group.c_str());
  std::lock_guard lock(mu_);
  counters_.active = true;
  cv_.notify_all();
}

void StreamProcessor::leave_group() {
  {
    std::lock_guard lock(mu_);
    last_in_flight_finished_ = 0;  // the revoke adds what it finishes
  }
  // Revokes the assignment through on_rebalance (flush, store, synchronous commit), commits,
  // and sends LeaveGroup; bounded by the session timeout.
  if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer_.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_.log("close", std::string("orders-stream: closing the consumer: ") + rd_kafka_err2str(err));
  }
  const uint64_t late = finish_in_flight();  // outputs of partitions lost without a revoke
  unsettled_.clear();
  consumer_.reset();
  subscribed_ = false;
  Status created = create_consumer();
  if (!created) die("orders-stream consumer: " + created.message());
  std::fprintf(stderr, "orders-stream %s: inactive; left group %s\n", options_.version.c_str(),
               options_.group.c_str());
  std::lock_guard lock(mu_);
  last_in_flight_finished_ += late;
  counters_.active = false;
  counters_.assigned_partitions = 0;
  deactivate_completed_ = deactivate_requested_;
  cv_.notify_all();
}

bool StreamProcessor::abandon_requested() {
  std::lock_guard lock(mu_);
  const bool leaving = exit_ || deactivate_requested_ > deactivate_completed_;
  return leaving && SteadyClock::now() >= abandon_after_;
}

bool StreamProcessor::attempt_succeeds(int /*attempt*/) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  if (options_.latency_ms > 0) std::this_thread::sleep_for(milliseconds(options_.latency_ms));
  return options_.fail_rate <= 0 ||
         std::uniform_real_distribution<double>(0, 1)(rng) >= options_.fail_rate;
}

void StreamProcessor::process(rd_kafka_message_t* message) {
  const std::string key =
      message->key == nullptr
          ? std::string()
          : std::string(static_cast<const char*>(message->key), message->key_len);
  const int64_t seq = sequence_of(message, key);
  int attempts = 0;
  for (;;) {
    ++attempts;
    if (attempt_succeeds(attempts)) break;
    {
      std::lock_guard lock(mu_);
      ++counters_.failed;
    }
    // Retried in place, so nothing is dropped. Only a deactivation past its deadline gives up,
    // and then the record is neither produced nor committed: the next owner processes it.
    if (abandon_requested()) {
      log_.log("abandon",
               "orders-stream: gave up a record still failing at the deactivation "
               "deadline; it stays uncommitted");
      unsettled_[message->partition][message->offset] = false;  // nothing after it is stored
      return;
    }
    std::this_thread::sleep_for(milliseconds(kRetryBackoffMs));
  }
  auto* output = new PendingOutput{message->partition, message->offset, key, ""};
  output->value = "{\"seq\":" + (seq >= 0 ? std::to_string(seq) : std::string("null")) +
                  ",\"partition\":" + std::to_string(message->partition) +
                  ",\"offset\":" + std::to_string(message->offset) + ",\"version\":\"" +
                  json_escape(options_.version) + "\",\"instance\":\"" +
                  json_escape(options_.instance) + "\",\"role\":\"" + json_escape(current_role()) +
                  "\",\"attempts\":" + std::to_string(attempts) +
                  ",\"processedAtMs\":" + std::to_string(unix_ms()) + "}";
  unsettled_[message->partition][message->offset] = false;
  produce_output(output);
}

void StreamProcessor::produce_output(PendingOutput* output) {
  Status s = produce_copy(producer_.get(), options_.output_topic, output->key, output->value,
                          output, kFlushTimeoutMs);
  if (!s) {
    // The offset stays unsettled, so it is never committed: a later owner reprocesses it.
    log_.log("produce", "orders-stream: " + s.message());
    delete output;
    return;
  }
  ++in_flight_;
}

void StreamProcessor::delivery_cb(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  static_cast<StreamProcessor*>(opaque)->on_delivery(message);
}

void StreamProcessor::on_delivery(const rd_kafka_message_t* message) {
  auto* output = static_cast<PendingOutput*>(message->_private);
  --in_flight_;
  auto partition = unsettled_.find(output->partition);
  const bool still_owned =
      partition != unsettled_.end() && partition->second.count(output->offset) > 0;
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_.log("delivery", std::string("orders-stream: output not acknowledged (") +
                             rd_kafka_err2str(message->err) + "); producing it again");
    // Produced again while its input is still ours; else the new owner reprocesses the input.
    if (still_owned) return produce_output(output);
    delete output;
    return;
  }
  {
    std::lock_guard lock(mu_);
    ++counters_.processed;
  }
  if (still_owned) {
    auto& offsets = partition->second;
    offsets[output->offset] = true;
    int64_t next = -1;
    while (!offsets.empty() && offsets.begin()->second) {
      next = offsets.begin()->first + 1;
      offsets.erase(offsets.begin());
    }
    if (next >= 0) {
      RdKafkaPtr<rd_kafka_topic_partition_list_t> list(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), output->partition)
          ->offset = next;
      if (rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer_.get(), list.get());
          err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_.log("store",
                 std::string("orders-stream: storing an offset: ") + rd_kafka_err2str(err));
      }
    }
  }
  delete output;
}

uint64_t StreamProcessor::finish_in_flight() {
  const uint64_t in_flight = in_flight_;
  if (in_flight == 0 || !producer_) return 0;
  if (rd_kafka_resp_err_t err = rd_kafka_flush(producer_.get(), kFlushTimeoutMs);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_.log("flush", std::string("orders-stream: flushing the outputs: ") + rd_kafka_err2str(err) +
                          "; their inputs stay uncommitted");
  }
  return in_flight;
}

void StreamProcessor::commit_stored(const char* why) {
  rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), nullptr, /*async=*/0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    log_.log("commit",
             std::string("orders-stream: commit on ") + why + ": " + rd_kafka_err2str(err));
  }
}

void StreamProcessor::rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<StreamProcessor*>(opaque)->on_rebalance(err, partitions);
}

void StreamProcessor::on_rebalance(rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* partitions) {
  rd_kafka_t* rk = consumer_.get();
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  {
    std::lock_guard lock(mu_);
    ++counters_.rebalances;
  }
  const std::string names = partition_names(partitions);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < partitions->cnt; ++i) unsettled_[partitions->elems[i].partition].clear();
    if (cooperative) {
      RdKafkaPtr<rd_kafka_error_t> error(rd_kafka_incremental_assign(rk, partitions));
      if (error) {
        log_.log("assign",
                 "orders-stream: assign: " + std::string(rd_kafka_error_string(error.get())));
      }
    } else {
      rd_kafka_assign(rk, partitions);
    }
    update_assignment_count();
    std::fprintf(stderr, "orders-stream %s: assigned %s; owns %d partitions\n",
                 options_.version.c_str(), names.c_str(), counters().assigned_partitions);
    return;
  }
  const bool revoke = err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS;
  const bool lost = !revoke || rd_kafka_assignment_lost(rk);
  // Every output in flight is acknowledged (and its offset stored) before the commit, so the
  // next owner starts exactly after the last durable result.
  const uint64_t finished = finish_in_flight();
  if (!lost) commit_stored("revoke");
  for (int i = 0; i < partitions->cnt; ++i) unsettled_.erase(partitions->elems[i].partition);
  if (cooperative && revoke) {
    RdKafkaPtr<rd_kafka_error_t> error(rd_kafka_incremental_unassign(rk, partitions));
    if (error)
      log_.log("unassign",
               "orders-stream: unassign: " + std::string(rd_kafka_error_string(error.get())));
  } else {
    rd_kafka_assign(rk, nullptr);
  }
  update_assignment_count();
  {
    std::lock_guard lock(mu_);
    last_in_flight_finished_ += finished;
  }
  std::fprintf(stderr, "orders-stream %s: revoked %s%s; owns %d partitions\n",
               options_.version.c_str(), names.c_str(),
               lost ? " (lost: not committed)"
                    : (" after " + std::to_string(finished) +
                       " outputs in flight were acknowledged and the offsets committed")
                          .c_str(),
               counters().assigned_partitions);
}

void StreamProcessor::update_assignment_count() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  int count = 0;
  if (rd_kafka_assignment(consumer_.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    RdKafkaPtr<rd_kafka_topic_partition_list_t> assignment(raw);
    count = assignment->cnt;
  }
  std::lock_guard lock(mu_);
  counters_.assigned_partitions = count;
}

}  // namespace sluice::examples
