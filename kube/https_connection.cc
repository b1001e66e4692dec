#include "kube/https_connection.h"

#include <boost/asio/connect.hpp>

#include "base/tls_client.h"

namespace sluice::kube::internal {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

HttpsConnection::HttpsConnection(ssl::context& tls, ServerUrl server, std::string verify_name)
    : resolver_(ioc_),
      stream_(ioc_, tls),
      server_(std::move(server)),
      verify_name_(std::move(verify_name)) {}

HttpsConnection::~HttpsConnection() {
  // Connection: close was asked for; the peer learns the end from the TCP close. A TLS
  // close_notify would be one more bounded exchange for nothing.
  boost::system::error_code ignored;
  stream_.lowest_layer().close(ignored);
}

void HttpsConnection::abort() {
  resolver_.cancel();
  boost::system::error_code ignored;
  stream_.lowest_layer().close(ignored);
}

Status HttpsConnection::describe(const std::string& what, const OpResult& result,
                                 Duration budget) const {
  const std::string prefix = what + " " + server_.origin() + ": ";
  switch (result.outcome) {
    case Outcome::kTimedOut:
      return Status(StatusCode::kDeadlineExceeded,
                    prefix + "timed out after " + std::to_string(budget.count()) + " ms");
    case Outcome::kStopped:
      return unavailable(prefix + "stopped");
    case Outcome::kDone:
      break;
  }
  if (!result.ec) return Status::ok();
  return unavailable(prefix + result.ec.message());
}

Status HttpsConnection::open(SteadyTime deadline, Duration budget, const std::atomic<bool>* stop) {
  tcp::resolver::results_type endpoints;
  OpResult r = run(deadline, stop, [&](auto handler) {
    resolver_.async_resolve(
        server_.host, server_.port,
        [&endpoints, handler](const boost::system::error_code& ec,
                              tcp::resolver::results_type results) mutable {
          endpoints = std::move(results);
          handler(ec);
        });
  });
  if (Status s = describe("resolve", r, budget); !s) return s;

  r = run(deadline, stop, [&](auto handler) {
    asio::async_connect(stream_.lowest_layer(), endpoints, handler);
  });
  if (Status s = describe("connect to", r, budget); !s) return s;

  if (Status st = prepare_verified_stream(stream_, verify_name_, &verify_detail_); !st.is_ok()) {
    return unavailable("TLS handshake with " + server_.origin() + ": " + st.message());
  }
  r = run(deadline, stop, [&](auto handler) {
    stream_.async_handshake(ssl::stream_base::client, handler);
  });
  if (r.outcome == Outcome::kDone && r.ec) {
    return unavailable("TLS handshake with " + server_.origin() + ": " +
                       handshake_failure_cause(stream_, r.ec, verify_detail_));
  }
  return describe("TLS handshake with", r, budget);
}

}  // namespace sluice::kube::internal
