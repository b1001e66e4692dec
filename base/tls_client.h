// Verified TLS for clients: the one place that sets up peer verification, SNI and the host name
// check, shared by the async HTTP client (base/http_client.h) and the Kubernetes client
// (kube/https_connection.h).
//
// Contract: a stream prepared here completes its handshake only when the server's chain verifies
// against the context's CAs and the leaf names `verify_name` (RFC 6125: an IP SAN for an IP
// address, else a DNS SAN); a DNS name is also sent as SNI. Pure setup; no I/O. Thread-compatible:
// a stream belongs to one thread, a context may be shared once set up.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <string>

#include "base/status.h"

namespace sluice {

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

// A client context that trusts the system CAs, or only the PEM bundle `ca_file` when it is not
// empty (a private CA). Errors name the file, never its content.
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const std::string& ca_file);

// Turns on verification of `stream`'s peer for `verify_name`. `*mismatch_detail` (owned by the
// caller, alive as long as the stream) receives why a name check failed, for the error.
Status prepare_verified_stream(TlsStream& stream, const std::string& verify_name,
                               std::string* mismatch_detail);

// The cause of a failed handshake, with OpenSSL's verification result when there is one, e.g.
// "certificate verify failed (unable to get local issuer certificate)" or
// "certificate verify failed (Hostname mismatch: the server certificate does not name x)".
std::string handshake_failure_cause(TlsStream& stream, const boost::system::error_code& ec,
                                    const std::string& mismatch_detail);

}  // namespace sluice
