#include "traffic/proxy_session.h"

#include <random>
#include <thread>

#include <boost/asio/dispatch.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "base/clock.h"
#include "base/http_framing.h"
#include "traffic/front_door.h"

namespace sluice::traffic {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using error_code = boost::system::error_code;

namespace {

// Per-thread generator for the weighted choice: no shared state on the data path.
SeededRandom& thread_random() {
  thread_local SeededRandom rng(std::random_device{}() ^
                                std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return rng;
}

// Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded.
template <class Fields>
void strip_hop_by_hop(Fields& fields) {
  for (auto field : {http::field::connection, http::field::keep_alive,
                     http::field::proxy_connection, http::field::te, http::field::trailer,
                     http::field::transfer_encoding, http::field::upgrade}) {
    fields.erase(field);
  }
}

bool is_parse_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

// Errors on a reused keep-alive connection that the peer had already closed.
bool is_stale_connection(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::eof;
}

}  // namespace

ProxySession::ProxySession(std::shared_ptr<FrontDoor> door, net::ip::tcp::socket socket)
    : door_(std::move(door)), client_(std::move(socket)) {}

ProxySession::~ProxySession() {
  if (endpoint_) endpoint_->outstanding.fetch_sub(1, std::memory_order_relaxed);
}

void ProxySession::start() {
  net::dispatch(client_.get_executor(), [self = shared_from_this()] { self->read_request(); });
}

void ProxySession::read_request() {
  const ProxyOptions& opts = door_->options();
  parser_.emplace();
  parser_->header_limit(opts.max_header_bytes);
  parser_->body_limit(opts.max_request_body_bytes);
  client_.expires_after(opts.client_timeout);
  http::async_read(client_, client_buffer_, *parser_,
                   [self = shared_from_this()](error_code ec, size_t) { self->on_request(ec); });
}

void ProxySession::on_request(error_code ec) {
  if (ec) {
    if (ec == http::error::body_limit) return reply_local(413, "request body too large\n");
    if (ec == http::error::header_limit) return reply_local(431, "request header too large\n");
    if (is_parse_error(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return reply_local(400, "malformed request\n");
    }
    return close();  // client went away, or timed out (idle or slowloris)
  }
  request_ = parser_->release();
  parser_.reset();
  client_version_ = request_.version();
  client_keep_alive_ = request_.keep_alive() && !door_->closing();
  head_request_ = request_.method() == http::verb::head;
  started_ = std::chrono::steady_clock::now();
  retried_ = false;
  // Request smuggling: a body framed otherwise than by one Content-Length or exactly "chunked"
  // was read by Beast as something else than a server behind us (or in front) may read it.
  if (request_framing_error(request_.base())) return reply_local(400, "malformed request\n");

  table_ = door_->table();
  std::optional<Choice> choice;
  if (table_) {
    const uint64_t roll = thread_random().next();
    choice =
        choose(*table_, request_, static_cast<uint32_t>(roll), static_cast<uint32_t>(roll >> 32));
  }
  if (!choice) {
    table_.reset();
    return reply_local(503, "no ready endpoint\n");
  }
  revision_ = choice->revision;
  endpoint_ = *choice->endpoint;
  endpoint_->outstanding.fetch_add(1, std::memory_order_relaxed);

  strip_hop_by_hop(request_);
  request_.version(11);
  request_.keep_alive(true);
  request_.prepare_payload();

  // Reuse a kept-alive connection to the same endpoint; drop ones to drained endpoints.
  upstream_.reset();
  for (auto it = idle_upstreams_.begin(); it != idle_upstreams_.end();) {
    if ((*it)->endpoint->drained.load(std::memory_order_relaxed)) {
      it = idle_upstreams_.erase(it);
    } else if (!upstream_ && (*it)->endpoint == endpoint_) {
      upstream_ = std::move(*it);
      it = idle_upstreams_.erase(it);
    } else {
      ++it;
    }
  }
  upstream_reused_ = upstream_ != nullptr;
  if (upstream_) return send_upstream();
  connect_upstream();
}

void ProxySession::connect_upstream() {
  upstream_ = std::make_unique<Upstream>(client_.get_executor());
  upstream_->endpoint = endpoint_;
  upstream_reused_ = false;
  upstream_->stream.expires_after(door_->options().upstream_connect_timeout);
  upstream_->stream.async_connect(endpoint_->address, [self = shared_from_this()](error_code ec) {
    if (ec) return self->upstream_failed(ec);
    self->upstream_->stream.socket().set_option(net::ip::tcp::no_delay(true), ec);
    self->send_upstream();
  });
}

void ProxySession::send_upstream() {
  upstream_->stream.expires_after(door_->options().upstream_timeout);
  http::async_write(
      upstream_->stream, request_, [self = shared_from_this()](error_code ec, size_t) {
        if (ec) return self->on_upstream_read(ec);
        self->res_parser_.emplace();
        self->res_parser_->body_limit(self->door_->options().max_response_body_bytes);
        if (self->head_request_) self->res_parser_->skip(true);
        http::async_read(self->upstream_->stream, self->upstream_->buffer, *self->res_parser_,
                         [self](error_code ec2, size_t) { self->on_upstream_read(ec2); });
      });
}

void ProxySession::on_upstream_read(error_code ec) {
  if (ec) {
    const bool nothing_read = !res_parser_ || !res_parser_->got_some();
    if (upstream_reused_ && !retried_ && nothing_read && is_stale_connection(ec)) {
      retried_ = true;
      res_parser_.reset();
      return connect_upstream();
    }
    return upstream_failed(ec);
  }
  response_ = res_parser_->release();
  res_parser_.reset();
  const bool upstream_keep_alive = response_.keep_alive();
  const int status = static_cast<int>(response_.result_int());
  if (upstream_keep_alive && !endpoint_->drained.load(std::memory_order_relaxed)) {
    upstream_->stream.expires_never();
    if (idle_upstreams_.size() >= door_->options().idle_upstreams_per_session) {
      idle_upstreams_.erase(idle_upstreams_.begin());
    }
    idle_upstreams_.push_back(std::move(upstream_));
  }
  upstream_.reset();
  const std::string version = revision_->version;
  finish_upstream(status);

  strip_hop_by_hop(response_);
  if (door_->options().version_header) response_.set("X-Sluice-Version", version);
  response_.version(client_version_);
  response_.keep_alive(client_keep_alive_);
  if (!head_request_) response_.prepare_payload();
  write_response();
}

void ProxySession::upstream_failed(error_code ec) {
  upstream_.reset();
  res_parser_.reset();
  const bool timed_out = ec == beast::error::timeout;
  finish_upstream(timed_out ? 504 : 502);
  reply_local(timed_out ? 504 : 502,
              timed_out ? "upstream timed out\n" : "upstream connection failed\n");
}

void ProxySession::finish_upstream(int status) {
  const auto latency = std::chrono::steady_clock::now() - started_;
  if (revision_ != nullptr && revision_->stats) {
    revision_->stats->record(status, std::chrono::duration_cast<std::chrono::nanoseconds>(latency));
  }
  if (endpoint_) endpoint_->outstanding.fetch_sub(1, std::memory_order_relaxed);
  endpoint_.reset();
  revision_ = nullptr;
  table_.reset();
}

void ProxySession::reply_local(int status, std::string_view body) {
  // A request we could not parse leaves the stream in an unknown state: close after answering.
  if (status == 400 || status == 413 || status == 431) client_keep_alive_ = false;
  response_ = Response(static_cast<http::status>(status), client_version_);
  response_.set(http::field::content_type, "text/plain");
  response_.body() = std::string(body);
  response_.keep_alive(client_keep_alive_);
  response_.prepare_payload();
  write_response();
}

void ProxySession::write_response() {
  client_.expires_after(door_->options().client_timeout);
  http::async_write(client_, response_, [self = shared_from_this()](error_code ec, size_t) {
    if (ec) return self->close();
    if (!self->client_keep_alive_) return self->close();
    self->response_ = {};
    self->read_request();
  });
}

void ProxySession::close() {
  error_code ignored;
  client_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  client_.close();
}

}  // namespace sluice::traffic
