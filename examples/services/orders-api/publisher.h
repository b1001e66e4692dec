// Publishes order events to a durable RabbitMQ queue from a background thread, reconnecting
// with back-off. Request threads only enqueue (bounded; overflow is dropped and counted), so a
// slow or absent broker never adds request latency.
//
// Threads: enqueue()/published()/dropped() from any thread; the AMQP connection is owned by the
// publisher thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "examples/services/common/amqp_connection.h"
#include "examples/services/common/service_util.h"

namespace sluice::examples {

struct OrderEvent {
  std::string message_id;
  std::string body;  // JSON
};

class Publisher {
 public:
  Publisher(AmqpUrl url, std::string queue);
  ~Publisher();  // stop(0)
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  void start();
  void enqueue(OrderEvent event);
  // Publishes what is queued for at most `flush_ms` while connected, then stops the thread.
  void stop(int flush_ms);

  uint64_t published() const;
  uint64_t dropped() const;

 private:
  void run();

  static constexpr size_t kMaxQueued = 10'000;
  AmqpUrl url_;
  std::string queue_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<OrderEvent> pending_;  // guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  int64_t stop_deadline_ms_ = 0;    // guarded by mu_
  uint64_t published_ = 0;          // guarded by mu_
  uint64_t dropped_ = 0;            // guarded by mu_
  RateLimitedLog log_{30'000};
};

}  // namespace sluice::examples
