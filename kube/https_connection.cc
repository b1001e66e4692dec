#include "kube/https_connection.h"

#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/verify_context.hpp>

namespace sluice::kube::internal {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

HttpsConnection::HttpsConnection(ssl::context& tls, ServerUrl server, std::string verify_name)
    : resolver_(ioc_),
      stream_(ioc_, tls),
      server_(std::move(server)),
      verify_name_(std::move(verify_name)) {
  boost::system::error_code ec;
  asio::ip::make_address(verify_name_, ec);
  verify_name_is_ip_ = !ec;
}

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

  if (!verify_name_is_ip_) {
    // SSL_set_tlsext_host_name is a macro with a C-style cast; this is what it expands to.
    if (SSL_ctrl(stream_.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(verify_name_.c_str())) != 1) {
      return unavailable("TLS handshake with " + server_.origin() + ": cannot send the name " +
                         verify_name_ + " (SNI)");
    }
  }
  stream_.set_verify_mode(ssl::verify_peer);
  // Asio's RFC 6125 check (an IP SAN for an IP address, else a DNS SAN), plus a named reason:
  // asio's check fails without setting one, and OpenSSL would then report no cause.
  stream_.set_verify_callback(
      [this, check = ssl::host_name_verification(verify_name_)](bool preverified,
                                                                 ssl::verify_context& ctx) {
        if (check(preverified, ctx)) return true;
        if (preverified) {
          X509_STORE_CTX_set_error(ctx.native_handle(), verify_name_is_ip_
                                                            ? X509_V_ERR_IP_ADDRESS_MISMATCH
                                                            : X509_V_ERR_HOSTNAME_MISMATCH);
          verify_detail_ = "the server certificate does not name " + verify_name_;
        }
        return false;
      });
  r = run(deadline, stop, [&](auto handler) {
    stream_.async_handshake(ssl::stream_base::client, handler);
  });
  if (r.outcome == Outcome::kDone && r.ec) {
    std::string cause = r.ec.message();
    const long verify_result = SSL_get_verify_result(stream_.native_handle());
    if (verify_result != X509_V_OK) {
      cause += std::string(" (") + X509_verify_cert_error_string(verify_result);
      if (!verify_detail_.empty()) cause += ": " + verify_detail_;
      cause += ")";
    }
    return unavailable("TLS handshake with " + server_.origin() + ": " + cause);
  }
  return describe("TLS handshake with", r, budget);
}

}  // namespace sluice::kube::internal
