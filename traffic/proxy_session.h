// One client connection of the built-in router: HTTP/1.1 with keep-alive, proxied request by
// request. Internal to traffic/.
//
// Threading: all handlers of a session run on the accepted socket's io_context, which one I/O
// thread runs (BuiltinRouter has one io_context per thread), so they are serial without a
// strand; upstream sockets and the deadline timer share it. The routing table is loaded once per
// request from the FrontDoor (atomic), so a weight change applies to the next request on every
// connection and never resets a client connection.
//
// Upstream connections are kept alive and cached per session (at most
// ProxyOptions::idle_upstreams_per_session), keyed by EndpointState; a cached connection to a
// drained or removed endpoint is dropped instead of reused. A request whose reused upstream
// connection turns out to be closed (no response byte read) is retried once on a new connection.
//
// Timeouts (issue 22): one lazy deadline per session instead of a timer per I/O operation (what
// beast::tcp_stream does: arm, cancel and one more completion for every read and write). A
// session waits for one thing at a time (its client, or its upstream), so each wait only stores
// a deadline; the single timer fires at the earliest deadline it was armed for, then finds a
// later deadline and sleeps again, or closes the socket being waited for (client: the session
// ends; upstream: 504).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "traffic/route_selection.h"

namespace sluice::traffic {

class FrontDoor;

class ProxySession : public std::enable_shared_from_this<ProxySession> {
 public:
  ProxySession(std::shared_ptr<FrontDoor> door, boost::asio::ip::tcp::socket socket);
  ~ProxySession();
  ProxySession(const ProxySession&) = delete;
  ProxySession& operator=(const ProxySession&) = delete;

  void start();
  // Keeps `token` (the front door's connection slot) for as long as the session lives.
  void hold(std::shared_ptr<void> token) { slot_ = std::move(token); }

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  struct Upstream {
    explicit Upstream(const boost::asio::any_io_executor& ex) : socket(ex) {}
    std::shared_ptr<EndpointState> endpoint;
    boost::asio::ip::tcp::socket socket;
    boost::beast::flat_buffer buffer;
  };

  using SteadyTime = std::chrono::steady_clock::time_point;
  enum class Waiting { kClient, kUpstream };

  // Starts waiting for `what` for at most `limit` (see the timeout note above).
  void wait_for(Waiting what, std::chrono::milliseconds limit);
  void arm_timer();
  void on_deadline();

  void read_request();
  void on_request(boost::system::error_code ec);
  void connect_upstream();
  void send_upstream();
  void on_upstream_read(boost::system::error_code ec);
  void upstream_failed(boost::system::error_code ec);
  void finish_upstream(int status);
  void reply_local(int status, std::string_view body);
  void write_response();
  void close();

  std::shared_ptr<FrontDoor> door_;
  boost::asio::ip::tcp::socket client_;
  boost::asio::steady_timer timer_;
  SteadyTime deadline_{};
  SteadyTime timer_expiry_{};  // valid while timer_armed_
  bool timer_armed_ = false;
  bool closed_ = false;
  Waiting waiting_ = Waiting::kClient;
  bool upstream_timed_out_ = false;
  boost::beast::flat_buffer client_buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Request request_;
  Response response_;
  std::string head_;  // the serialized header block being written (capacity reused)
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> res_parser_;

  // The request in flight.
  std::shared_ptr<const CompiledTable> table_;  // keeps revision_ alive
  const CompiledRevision* revision_ = nullptr;
  std::shared_ptr<EndpointState> endpoint_;  // outstanding counted while set
  std::unique_ptr<Upstream> upstream_;
  bool upstream_reused_ = false;
  bool retried_ = false;
  bool head_request_ = false;
  bool client_keep_alive_ = true;
  unsigned client_version_ = 11;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<void> slot_;

  std::vector<std::unique_ptr<Upstream>> idle_upstreams_;
};

}  // namespace sluice::traffic
