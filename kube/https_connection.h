// One HTTPS connection for one exchange, internal to kube/ (RestClient's transport).
//
// Ownership and threads: a connection belongs to the thread that made it. It has its own
// io_context, socket and TLS session and is closed by its destructor; it is never shared and
// never reused. The TLS context it is made from is shared (read-only after setup), which OpenSSL
// allows across threads.
//
// Every operation is bounded by a deadline in real (steady) time, because sockets live in real
// time, and, when `stop` is given, ends within about 200 ms of *stop becoming true. After a
// timeout or a stop the socket is closed and the connection stays unusable.
//
// Known limit: resolving a DNS name runs getaddrinfo(3) on Asio's resolver thread, which cannot
// be interrupted, so a hung DNS server can hold a call past its deadline until getaddrinfo gives
// up. IP addresses (in-cluster, most kubeconfigs) are never looked up.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <chrono>
#include <string>
#include <utility>

#include "base/clock.h"
#include "base/status.h"
#include "kube/server_url.h"

namespace sluice::kube::internal {

using SteadyTime = std::chrono::steady_clock::time_point;

class HttpsConnection {
 public:
  using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

  // `verify_name`: the DNS name or IP address the server certificate must carry (tls-server-name
  // or the URL's host); a DNS name is also sent as SNI.
  HttpsConnection(boost::asio::ssl::context& tls, ServerUrl server, std::string verify_name);
  ~HttpsConnection();
  HttpsConnection(const HttpsConnection&) = delete;
  HttpsConnection& operator=(const HttpsConnection&) = delete;

  // Resolve, TCP connect and TLS handshake (peer verified against the context's CAs, host name
  // checked). Errors (kUnavailable or kDeadlineExceeded) read like
  //   "connect to https://127.0.0.1:1234: Connection refused"
  //   "TLS handshake with https://127.0.0.1:6443: certificate verify failed (IP address
  //    mismatch: the server certificate does not name 127.0.0.1)"
  //   "connect to https://10.0.0.1:6443: timed out after 10000 ms"
  Status open(SteadyTime deadline, Duration budget, const std::atomic<bool>* stop);

  enum class Outcome { kDone, kTimedOut, kStopped };
  struct OpResult {
    Outcome outcome = Outcome::kDone;
    boost::system::error_code ec;
  };

  // Runs one asynchronous operation, started by start(handler), to completion on this
  // connection's io_context, or until the deadline or the stop flag (then the socket is closed).
  template <typename Start>
  OpResult run(SteadyTime deadline, const std::atomic<bool>* stop, Start&& start);

  // OK for a clean kDone; else "<what> <origin>: <cause>" with kUnavailable, "... timed out after
  // <budget> ms" with kDeadlineExceeded, or "... stopped" (kUnavailable; see stopped()).
  Status describe(const std::string& what, const OpResult& result, Duration budget) const;

  Stream& stream() { return stream_; }
  const ServerUrl& server() const { return server_; }
  // True once an operation ended because *stop became true.
  bool stopped() const { return stopped_; }

 private:
  void abort();  // cancels the resolver and closes the socket

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::resolver resolver_;
  Stream stream_;
  ServerUrl server_;
  std::string verify_name_;
  std::string verify_detail_;  // why the host name check failed, set by the verify callback
  bool stopped_ = false;
};

template <typename Start>
HttpsConnection::OpResult HttpsConnection::run(SteadyTime deadline,
                                               const std::atomic<bool>* stop, Start&& start) {
  using namespace std::chrono_literals;
  bool done = false;
  OpResult result;
  std::forward<Start>(start)([&done, &result](const boost::system::error_code& ec, auto&&...) {
    done = true;
    result.ec = ec;
  });
  while (!done) {
    if (stop != nullptr && stop->load()) {
      result.outcome = Outcome::kStopped;
      break;
    }
    const std::chrono::steady_clock::duration left = deadline - std::chrono::steady_clock::now();
    if (left <= left.zero()) {
      result.outcome = Outcome::kTimedOut;
      break;
    }
    // Without a stop flag, sleep until the deadline; with one, wake every 200 ms to look at it.
    const std::chrono::steady_clock::duration slice =
        stop == nullptr ? left : std::min<std::chrono::steady_clock::duration>(left, 200ms);
    ioc_.restart();
    ioc_.run_for(slice);
  }
  if (!done) {
    // The pending operation completes with operation_aborted once the socket is closed.
    abort();
    ioc_.restart();
    ioc_.run();
    if (result.outcome == Outcome::kStopped) stopped_ = true;
  }
  return result;
}

}  // namespace sluice::kube::internal
