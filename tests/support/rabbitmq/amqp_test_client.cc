#include "tests/support/rabbitmq/amqp_test_client.h"

#include <sys/time.h>

#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#endif

namespace sluice::testing {

struct AmqpTestClient::Impl {
  amqp_connection_state_t conn = nullptr;
  amqp_channel_t channel = 1;
  bool channel_open = false;

  ~Impl() {
    if (conn == nullptr) return;
    if (channel_open) amqp_channel_close(conn, channel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
  }

  // Checks the last RPC; a server exception closed the channel, so a fresh one is opened.
  Status check(const std::string& what) {
    amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return Status::ok();
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
      std::string text(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len);
      amqp_channel_close_ok_t close_ok{};
      amqp_send_method(conn, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
      channel_open = false;
      Status reopened = open_channel();
      if (!reopened) return reopened;
      if (m->reply_code == AMQP_NOT_FOUND) return not_found(what + ": " + text);
      return unavailable(what + ": " + text);
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      return unavailable(what + ": " + amqp_error_string2(reply.library_error));
    }
    return unavailable(what + ": broker error");
  }

  Status open_channel() {
    ++channel;
    amqp_channel_open(conn, channel);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
      return unavailable("channel.open failed");
    }
    channel_open = true;
    return Status::ok();
  }
};

AmqpTestClient::AmqpTestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AmqpTestClient::~AmqpTestClient() = default;

Result<std::unique_ptr<AmqpTestClient>> AmqpTestClient::connect(int port, const std::string& user,
                                                                const std::string& password) {
  auto impl = std::make_unique<Impl>();
  impl->conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(impl->conn);
  if (socket == nullptr) return internal_error("amqp_tcp_socket_new failed");
  timeval tv{5, 0};
  int rc = amqp_socket_open_noblock(socket, "127.0.0.1", port, &tv);
  if (rc != AMQP_STATUS_OK) {
    return unavailable("connect to 127.0.0.1:" + std::to_string(port) + ": " +
                       amqp_error_string2(rc));
  }
  amqp_set_rpc_timeout(impl->conn, &tv);
  amqp_rpc_reply_t login = amqp_login(impl->conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                                      user.c_str(), password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) return unavailable("AMQP login failed");
  impl->channel = 0;
  if (Status s = impl->open_channel(); !s) return s;
  return std::unique_ptr<AmqpTestClient>(new AmqpTestClient(std::move(impl)));
}

Status AmqpTestClient::declare_durable_queue(const std::string& queue) {
  amqp_queue_declare(impl_->conn, impl_->channel, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0,
                     amqp_empty_table);
  return impl_->check("queue.declare " + queue);
}

Status AmqpTestClient::publish(const std::string& queue, const std::string& body,
                               const std::string& message_id) {
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.delivery_mode = 2;
  if (!message_id.empty()) {
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = amqp_cstring_bytes(message_id.c_str());
  }
  amqp_bytes_t bytes{body.size(), const_cast<char*>(body.data())};
  int rc = amqp_basic_publish(impl_->conn, impl_->channel, amqp_empty_bytes,
                              amqp_cstring_bytes(queue.c_str()), 0, 0, &props, bytes);
  if (rc != AMQP_STATUS_OK) return unavailable(std::string("publish: ") + amqp_error_string2(rc));
  return Status::ok();
}

Result<QueueState> AmqpTestClient::inspect(const std::string& queue) {
  amqp_queue_declare_ok_t* ok =
      amqp_queue_declare(impl_->conn, impl_->channel, amqp_cstring_bytes(queue.c_str()),
                         /*passive=*/1, 0, 0, 0, amqp_empty_table);
  if (Status s = impl_->check("queue.declare(passive) " + queue); !s) return s;
  if (ok == nullptr) return unavailable("queue.declare(passive): no reply");
  return QueueState{ok->message_count, ok->consumer_count};
}

Status AmqpTestClient::delete_queue(const std::string& queue) {
  amqp_queue_delete(impl_->conn, impl_->channel, amqp_cstring_bytes(queue.c_str()), 0, 0);
  return impl_->check("queue.delete " + queue);
}

}  // namespace sluice::testing
