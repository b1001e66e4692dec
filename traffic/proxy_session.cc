#include "traffic/proxy_session.h"

#include <algorithm>
#include <array>
#include <random>
#include <thread>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

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
constexpr std::array kHopByHop = {http::field::connection,       http::field::keep_alive,
                                  http::field::proxy_connection, http::field::te,
                                  http::field::trailer,          http::field::transfer_encoding,
                                  http::field::upgrade};

template <class Fields>
void strip_hop_by_hop(Fields& fields) {
  // One pass over the (few) fields finds most messages clean; seven erase() calls would cost
  // seven case-insensitive tree lookups per message.
  const bool any = std::any_of(fields.begin(), fields.end(), [](const auto& f) {
    return std::find(kHopByHop.begin(), kHopByHop.end(), f.name()) != kHopByHop.end();
  });
  if (!any) return;
  for (auto field : kHopByHop) fields.erase(field);
}

bool is_parse_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

// Errors on a reused keep-alive connection that the peer had already closed.
bool is_stale_connection(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::eof;
}

// The header block of a message as HTTP/1.1 puts it on the wire, into `out` (whose capacity is
// kept from request to request): what beast::http::serializer writes, without its generic
// buffer-sequence machinery, which with its write operations was a third of the router's
// instructions per request (callgrind, issue 22). The body follows as a second buffer; framing
// was fixed by prepare_payload() before this.
void append(std::string& out, beast::string_view text) { out.append(text.data(), text.size()); }

void append_fields(const http::fields& fields, std::string& out) {
  for (const auto& field : fields) {
    append(out, field.name_string());
    out.append(": ");
    append(out, field.value());
    out.append("\r\n");
  }
  out.append("\r\n");
}

void serialize_header(const http::request_header<>& h, std::string& out) {
  out.clear();
  append(out, h.method_string());
  out.push_back(' ');
  append(out, h.target());
  out.append(h.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  append_fields(h, out);
}

void serialize_header(const http::response_header<>& h, std::string& out) {
  out.clear();
  out.append(h.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  const unsigned status = h.result_int();
  const char digits[3] = {static_cast<char>('0' + status / 100 % 10),
                          static_cast<char>('0' + status / 10 % 10),
                          static_cast<char>('0' + status % 10)};
  out.append(digits, 3);
  out.push_back(' ');
  append(out, h.reason());
  out.append("\r\n");
  append_fields(h, out);
}

}  // namespace

ProxySession::ProxySession(std::shared_ptr<FrontDoor> door, net::ip::tcp::socket socket)
    : door_(std::move(door)), client_(std::move(socket)), timer_(client_.get_executor()) {}

ProxySession::~ProxySession() {
  if (endpoint_) endpoint_->outstanding.fetch_sub(1, std::memory_order_relaxed);
}

void ProxySession::start() {
  net::dispatch(client_.get_executor(), [self = shared_from_this()] { self->read_request(); });
}

void ProxySession::wait_for(Waiting what, std::chrono::milliseconds limit) {
  waiting_ = what;
  deadline_ = std::chrono::steady_clock::now() + limit;
  // The armed timer fires no later than the new deadline: it re-checks then, no syscall now.
  if (timer_armed_ && timer_expiry_ <= deadline_) return;
  arm_timer();
}

void ProxySession::arm_timer() {
  timer_armed_ = true;
  timer_expiry_ = deadline_;
  timer_.expires_at(deadline_);  // a pending wait completes with operation_aborted
  // A weak pointer: the timer never keeps a finished session alive for a whole timeout.
  timer_.async_wait([weak = weak_from_this()](error_code ec) {
    if (ec) return;  // re-armed for an earlier deadline, or the session is gone
    if (auto self = weak.lock()) self->on_deadline();
  });
}

void ProxySession::on_deadline() {
  timer_armed_ = false;
  if (closed_) return;
  if (std::chrono::steady_clock::now() < deadline_) return arm_timer();
  error_code ignored;
  if (waiting_ == Waiting::kClient) return close();  // idle, slowloris, or a stuck reader
  // The pending upstream operation completes with operation_aborted and answers 504.
  upstream_timed_out_ = true;
  if (upstream_) upstream_->socket.close(ignored);
}

void ProxySession::read_request() {
  const ProxyOptions& opts = door_->options();
  head_request_ = false;  // a request that fails to parse is answered with a body
  parser_.emplace();
  parser_->header_limit(opts.max_header_bytes);
  parser_->body_limit(opts.max_request_body_bytes);
  wait_for(Waiting::kClient, opts.client_timeout);
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
  upstream_timed_out_ = false;
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
  wait_for(Waiting::kUpstream, door_->options().upstream_connect_timeout);
  upstream_->socket.async_connect(endpoint_->address, [self = shared_from_this()](error_code ec) {
    if (ec) return self->upstream_failed(ec);
    self->upstream_->socket.set_option(net::ip::tcp::no_delay(true), ec);
    self->send_upstream();
  });
}

void ProxySession::send_upstream() {
  wait_for(Waiting::kUpstream, door_->options().upstream_timeout);
  serialize_header(request_.base(), head_);
  net::async_write(
      upstream_->socket,
      std::array<net::const_buffer, 2>{net::buffer(head_), net::buffer(request_.body())},
      [self = shared_from_this()](error_code ec, size_t) {
        if (ec) return self->on_upstream_read(ec);
        self->res_parser_.emplace();
        self->res_parser_->body_limit(self->door_->options().max_response_body_bytes);
        if (self->head_request_) self->res_parser_->skip(true);
        http::async_read(self->upstream_->socket, self->upstream_->buffer, *self->res_parser_,
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
  const bool timed_out = upstream_timed_out_ || ec == beast::error::timeout;
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
  wait_for(Waiting::kClient, door_->options().client_timeout);
  serialize_header(response_.base(), head_);
  // A HEAD answer keeps the upstream's Content-Length and has no body.
  const net::const_buffer body =
      head_request_ ? net::const_buffer() : net::buffer(response_.body());
  net::async_write(client_, std::array<net::const_buffer, 2>{net::buffer(head_), body},
                   [self = shared_from_this()](error_code ec, size_t) {
                     if (ec) return self->close();
                     if (!self->client_keep_alive_) return self->close();
                     self->response_ = {};
                     self->read_request();
                   });
}

void ProxySession::close() {
  closed_ = true;
  error_code ignored;
  client_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  client_.close(ignored);
  timer_.cancel();
}

}  // namespace sluice::traffic
