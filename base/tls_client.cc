#include "base/tls_client.h"

#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/verify_context.hpp>

namespace sluice {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> make_client_tls_context(const std::string& ca_file) {
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                   ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                   ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    tls->set_default_verify_paths(ec);
    if (ec) return unavailable("cannot load the system CA certificates: " + ec.message());
  } else {
    tls->load_verify_file(ca_file, ec);
    if (ec) return invalid_argument("cannot load CA file " + ca_file + ": " + ec.message());
  }
  return tls;
}

Status prepare_verified_stream(TlsStream& stream, const std::string& verify_name,
                               std::string* mismatch_detail) {
  boost::system::error_code ec;
  asio::ip::make_address(verify_name, ec);
  const bool is_ip = !ec;
  if (!is_ip) {
    // SSL_set_tlsext_host_name is a macro with a C-style cast; this is what it expands to.
    if (SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(verify_name.c_str())) != 1) {
      return unavailable("cannot send the name " + verify_name + " (SNI)");
    }
  }
  stream.set_verify_mode(ssl::verify_peer);
  // Asio's RFC 6125 check, plus a named reason: asio's check fails without setting one, and
  // OpenSSL would then report no cause.
  stream.set_verify_callback(
      [is_ip, verify_name, mismatch_detail, check = ssl::host_name_verification(verify_name)](
          bool preverified, ssl::verify_context& ctx) {
        if (check(preverified, ctx)) return true;
        if (preverified) {
          X509_STORE_CTX_set_error(ctx.native_handle(), is_ip ? X509_V_ERR_IP_ADDRESS_MISMATCH
                                                              : X509_V_ERR_HOSTNAME_MISMATCH);
          if (mismatch_detail) {
            *mismatch_detail = "the server certificate does not name " + verify_name;
          }
        }
        return false;
      });
  return Status::ok();
}

std::string handshake_failure_cause(TlsStream& stream, const boost::system::error_code& ec,
                                    const std::string& mismatch_detail) {
  std::string cause = ec.message();
  const long verify_result = SSL_get_verify_result(stream.native_handle());
  if (verify_result != X509_V_OK) {
    cause += std::string(" (") + X509_verify_cert_error_string(verify_result);
    if (!mismatch_detail.empty()) cause += ": " + mismatch_detail;
    cause += ")";
  }
  return cause;
}

}  // namespace sluice
