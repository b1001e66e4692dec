// A small asynchronous HTTP/1.1 client (Beast): metric providers, notifications, gate webhooks.
//
// Contract: the callback runs exactly once, on `executor`, with a response or an error that says
// what went wrong (connect refused, timed out after N ms, body over the limit, ...). The whole
// exchange (resolve, connect, write, read) is bounded by request.timeout, and the body by
// request.max_body_bytes. http:// and https://; https verifies the server against the system CAs
// (or request.ca_file), sends SNI and checks the host name (base/tls_client.h): a certificate
// that does not verify fails the exchange with the cause, e.g. "TLS handshake with host:443:
// certificate verify failed (unable to get local issuer certificate)". Never throws.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace sluice {

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http[s]://host[:port][/path][?query]
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Duration timeout{5000};
  size_t max_body_bytes = 1 << 20;
  std::string ca_file;  // https: trust only this PEM bundle instead of the system CAs
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

struct ParsedUrl {
  std::string host;
  std::string port;
  std::string target;  // path and query, at least "/"
  bool tls = false;    // https
};
Result<ParsedUrl> parse_http_url(const std::string& url);

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string url_encode(const std::string& s);
std::string base64_encode(const std::string& s);

using HttpCallback = std::function<void(Result<HttpResponse>)>;
void http_fetch(const boost::asio::any_io_executor& executor, HttpRequest request,
                HttpCallback done);

}  // namespace sluice
