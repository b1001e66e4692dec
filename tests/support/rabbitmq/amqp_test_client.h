// A blocking AMQP client for tests: declare, publish (persistent, with message_id), inspect
// (passive queue.declare) and delete queues on a broker at 127.0.0.1.
//
// Threads: one thread per client.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace sluice::testing {

struct QueueState {
  uint32_t messages = 0;  // ready messages (unacked ones are not counted by the broker)
  uint32_t consumers = 0;
};

class AmqpTestClient {
 public:
  static Result<std::unique_ptr<AmqpTestClient>> connect(int port,
                                                         const std::string& user = "guest",
                                                         const std::string& password = "guest");
  ~AmqpTestClient();
  AmqpTestClient(const AmqpTestClient&) = delete;
  AmqpTestClient& operator=(const AmqpTestClient&) = delete;

  Status declare_durable_queue(const std::string& queue);
  // Publishes to the default exchange with routing key `queue`, delivery_mode 2; sets the
  // message_id property when non-empty.
  Status publish(const std::string& queue, const std::string& body,
                 const std::string& message_id = "");
  // Passive declare: NotFound when the queue does not exist.
  Result<QueueState> inspect(const std::string& queue);
  Status delete_queue(const std::string& queue);

 private:
  struct Impl;
  explicit AmqpTestClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::testing
