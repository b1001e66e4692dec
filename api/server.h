// The HTTP server: Beast sessions around the pure handle() router (CONVENTIONS.md pattern 9).
//
// Per connection: requests are read and answered one at a time, so at most one response is ever
// queued; pipelined requests wait in the read buffer, which is bounded by header_limit +
// body_limit. A connection is closed after max_requests_per_connection. Each request must arrive
// in full within request_timeout (slowloris), or the connection is closed; idle keep-alive
// connections get the same deadline. Bodies over body_limit get 413 and the connection closes.
//
// Before routing, every request passes guard_request() (api/request_guard.h): framing (only
// "Transfer-Encoding: chunked", never with Content-Length), Host, and for mutating calls Origin
// and Content-Type. A refused request is answered (400/421/403/415) and its connection closed; a
// request that Beast cannot parse gets 400 and a close.
//
// Failed authentication (a 401 from the router) is logged with the client's address, at most one
// line per address per 10 s carrying the count (api/auth_failure_log.h).
//
// Event streams (SSE): replay from the facade's journal (ids > Last-Event-ID), then live events
// from facade.subscribe(), and a comment line every heartbeat_interval. A client that falls
// more than max_stream_backlog frames behind is disconnected.
//
// Limits (issue 19; one viewer token with 1,030 SSE watchers once locked everyone out, /healthz
// included). Connections and streams are counted per client (base/connection_slots.h): the
// client is the token's name when the request carries a valid token, else the peer address.
//  - At accept a connection is counted under its address, within max_connections (all clients)
//    and max_connections_per_client; at each request it is re-counted under that request's
//    client (a token moves it off its address). A client over its limit gets 429 and a close.
//  - A connection the ordinary limits refuse, or one accepted while fewer than
//    descriptor_reserve descriptors are free in the process (base/descriptors.h), takes one of
//    health_reserve reserved connections instead: it is served one request, only /healthz,
//    /readyz or /metrics (anything else gets 429), within reserve_request_timeout, then closed.
//    When the reserve is full too, the connection is answered 429 at accept, without a session.
//    So an idle or streaming flood never leaves the probes without a way in.
//  - Event streams are counted per stream type (one rollout's events, all rollouts' events):
//    max_streams in all and max_streams_per_client per client, per type; over either -> 429.
// Every over-limit answer is 429 with `Retry-After: 1` and the API's JSON error body
// ({"error": why, "code": "too_many_connections" | "too_many_streams"}).
//
// Shutdown: shutdown(grace, done) stops accepting, closes idle and streaming connections,
// lets in-flight requests finish (answered with Connection: close), then after `grace`
// closes whatever is left and calls `done` (on an io_context thread).
//
// Threads: the server runs on the caller's io_context (any number of threads); each session is
// on its own strand. start()/shutdown() may be called from any thread. The facade and the
// authenticator must outlive the server.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "api/auth.h"
#include "api/router.h"
#include "base/clock.h"
#include "base/status.h"
#include "controller/facade.h"

namespace sluice::api {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port, [v6]:port; port 0 = kernel-assigned
  // Host names served besides the listen address (api.allowedHosts / --allowed-host): "name"
  // (any port) or "name:port", e.g. the name of a reverse proxy in front of the API.
  std::vector<std::string> allowed_hosts;
  size_t body_limit = 1 << 20;
  size_t header_limit = 16 << 10;
  Duration request_timeout = Duration(10'000);
  Duration write_timeout = Duration(30'000);
  size_t max_requests_per_connection = 1000;
  Duration heartbeat_interval = Duration(15'000);
  // GET .../logs?follow=1: how often the instance logs are read for new output, and how long
  // one follow stream lasts at most (the client reconnects to go on).
  Duration log_follow_interval = Duration(500);
  Duration log_follow_limit = Duration(3'600'000);
  size_t max_stream_backlog = 4096;
  // Limits (see the header comment). A client is a valid token's name, else the peer address.
  size_t max_connections = 1024;           // ordinary connections, all clients
  size_t max_connections_per_client = 128;
  size_t max_streams = 256;                // per stream type, all clients
  size_t max_streams_per_client = 16;      // per stream type
  size_t health_reserve = 32;              // connections beyond max_connections, health only
  Duration reserve_request_timeout = Duration(2'000);
  uint64_t descriptor_reserve = 128;       // fewer free descriptors -> new connections health only
};

// Parses "127.0.0.1:7070", "[::1]:7070", "localhost:7070", ":7070" (= 127.0.0.1).
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(const std::string& listen);

class ApiServer {
 public:
  ApiServer(boost::asio::io_context& ioc, controller::ControlFacade& facade,
            const Authenticator& auth, WebhookSecrets webhooks, ServerOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts accepting. Refuses a non-loopback address when no token is configured, and
  // an allowed_hosts entry that is not "name" or "name:port".
  // Returns the bound endpoint (with the real port when port 0 was asked).
  Result<boost::asio::ip::tcp::endpoint> start();
  void shutdown(Duration grace, std::function<void()> done);
  size_t open_sessions() const;

  struct Core;  // shared with sessions (server.cc)

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace sluice::api
