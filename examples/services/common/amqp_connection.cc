#include "examples/services/common/amqp_connection.h"

#include <sys/time.h>

#include <vector>

namespace sluice::examples {

Result<AmqpUrl> parse_amqp_url(const std::string& url) {
  std::vector<char> buf(url.begin(), url.end());
  buf.push_back('\0');
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) {
    return invalid_argument("malformed AMQP URL (expected amqp://user:pass@host:port/vhost)");
  }
  if (info.ssl) return invalid_argument("amqps:// is not supported by the examples");
  AmqpUrl out;
  out.host = info.host;
  out.port = info.port;
  out.user = info.user;
  out.password = info.password;
  out.vhost = (info.vhost == nullptr || *info.vhost == '\0') ? "/" : info.vhost;
  return out;
}

Status amqp_reply_status(const amqp_rpc_reply_t& reply, const std::string& what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return Status::ok();
    case AMQP_RESPONSE_NONE:
      return unavailable(what + ": missing RPC reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return unavailable(what + ": " + amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return unavailable(
            what + ": connection closed by broker: " +
            std::string(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len));
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return unavailable(
            what + ": channel closed by broker: " +
            std::string(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len));
      }
      return unavailable(what + ": unexpected broker reply");
  }
  return internal_error(what + ": unknown reply type");
}

Result<std::unique_ptr<AmqpConnection>> AmqpConnection::open(const AmqpUrl& url, int timeout_ms) {
  amqp_connection_state_t conn = amqp_new_connection();
  if (conn == nullptr) return internal_error("amqp_new_connection failed");
  // From here the connection is owned by `owned`; a failed step destroys it without a close.
  std::unique_ptr<AmqpConnection> owned(new AmqpConnection(conn));
  owned->broken_ = true;
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  if (socket == nullptr) return internal_error("amqp_tcp_socket_new failed");
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  int rc = amqp_socket_open_noblock(socket, url.host.c_str(), url.port, &tv);
  if (rc != AMQP_STATUS_OK) {
    return unavailable("connect to " + url.host + ":" + std::to_string(url.port) + ": " +
                       amqp_error_string2(rc));
  }
  amqp_set_rpc_timeout(conn, &tv);
  Status s =
      amqp_reply_status(amqp_login(conn, url.vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                                   url.user.c_str(), url.password.c_str()),
                        "login");
  if (!s) return s;
  amqp_channel_open(conn, kChannel);
  s = amqp_reply_status(amqp_get_rpc_reply(conn), "channel.open");
  if (!s) return s;
  owned->broken_ = false;
  return owned;
}

AmqpConnection::~AmqpConnection() {
  if (!broken_) {
    amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(conn_);
}

Status AmqpConnection::declare_durable_queue(const std::string& queue) {
  amqp_queue_declare(conn_, kChannel, amqp_cstring_bytes(queue.c_str()), /*passive=*/0,
                     /*durable=*/1, /*exclusive=*/0, /*auto_delete=*/0, amqp_empty_table);
  Status s = amqp_reply_status(amqp_get_rpc_reply(conn_), "queue.declare " + queue);
  if (!s) broken_ = true;  // a failed declare closes the channel
  return s;
}

}  // namespace sluice::examples
