// The consuming core of orders-worker: one thread owns the librabbitmq connection, consumes
// with manual acks and a prefetch, and carries out activate/deactivate requests made by HTTP
// threads. Deactivation is basic.cancel, then every message already delivered (the prefetch
// window) is processed and acked or nacked before the request is answered, so when it returns
// the broker holds no unacked message of this worker.
//
// Threads: start()/stop() by the owner; activate()/deactivate()/connected()/counters from any
// thread; everything AMQP on the worker thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "examples/services/common/amqp_connection.h"
#include "examples/services/common/consumer_http.h"
#include "examples/services/common/service_util.h"

namespace sluice::examples {

struct WorkerOptions {
  AmqpUrl url;
  std::string queue = "orders";
  std::string version = "dev";
  int prefetch = 10;
  double fail_rate = 0;
  bool fail_requeue = false;  // --fail-mode requeue (else ack-and-drop)
  int work_ms = 0;            // simulated processing time per message
  bool start_active = false;
  std::string processed_log;
  std::string activation_log;
};

struct WorkerCounters {
  uint64_t processed = 0;
  uint64_t failed = 0;
  uint64_t duplicates = 0;
  bool active = false;  // a consumer is registered with the broker
  bool connected = false;
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();  // stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Ends the worker thread; deactivate() first for a clean handover.
  void stop();

  // Asks for consumption and waits up to `wait_ms` until the consumer is registered.
  // Idempotent. Returns whether it is consuming.
  bool activate(int wait_ms);
  // Cancels the consumer, finishes every delivered message and returns once that is done.
  DeactivateResult deactivate(int wait_ms);

  WorkerCounters counters() const;

 private:
  enum class Outcome { kProcessed, kFailed, kDuplicate };

  void run();
  bool connect();           // worker thread
  void drop_connection();   // worker thread
  bool start_consuming();   // worker thread
  bool finish_consuming();  // worker thread: cancel + drain; false if the connection broke
  bool handle_next(int timeout_ms, bool* got_message);  // worker thread
  bool process(const amqp_envelope_t& envelope);        // worker thread; false on AMQP error
  void log_activation(const char* what);

  const WorkerOptions options_;
  std::thread thread_;
  LineLog processed_log_;
  LineLog activation_log_;
  RateLimitedLog log_{30'000};

  // Worker thread only.
  std::unique_ptr<AmqpConnection> conn_;
  std::string consumer_tag_;
  std::unordered_set<std::string> seen_ids_;
  uint64_t drained_ = 0;
  bool draining_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  bool exit_ = false;
  bool desired_active_ = false;
  uint64_t deactivate_requested_ = 0;
  uint64_t deactivate_completed_ = 0;
  uint64_t last_in_flight_finished_ = 0;
  WorkerCounters counters_;
};

}  // namespace sluice::examples
