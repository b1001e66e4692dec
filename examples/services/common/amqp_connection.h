// One librabbitmq connection with channel 1 open. librabbitmq is not thread-safe: an
// AmqpConnection is owned and used by exactly one thread.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "examples/services/common/amqp.h"

namespace sluice::examples {

struct AmqpUrl {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
};

// amqp://user:pass@host:port/vhost; an empty vhost ("amqp://h:5672/") means "/".
Result<AmqpUrl> parse_amqp_url(const std::string& url);

// "what: reason" for a failed RPC reply; OK for a normal reply.
Status amqp_reply_status(const amqp_rpc_reply_t& reply, const std::string& what);

class AmqpConnection {
 public:
  static constexpr amqp_channel_t kChannel = 1;

  // Connects, logs in and opens channel 1; each step bounded by `timeout_ms`.
  static Result<std::unique_ptr<AmqpConnection>> open(const AmqpUrl& url, int timeout_ms);
  // Closes channel and connection gracefully unless mark_broken() was called.
  ~AmqpConnection();
  AmqpConnection(const AmqpConnection&) = delete;
  AmqpConnection& operator=(const AmqpConnection&) = delete;

  amqp_connection_state_t state() const { return conn_; }
  // queue.declare durable=true (no-op when it already exists with the same arguments).
  Status declare_durable_queue(const std::string& queue);
  void mark_broken() { broken_ = true; }

 private:
  explicit AmqpConnection(amqp_connection_state_t conn) : conn_(conn) {}
  amqp_connection_state_t conn_;
  bool broken_ = false;
};

}  // namespace sluice::examples
