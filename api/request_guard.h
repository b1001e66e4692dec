// What a request must pass before it is routed (api/router.h), against browsers being used as
// a weapon: DNS rebinding and cross-site requests to a server that may have no tokens at all
// (issue 19). Also the framing rule against request smuggling (base/http_framing.h).
//
// 1. Framing: Transfer-Encoding other than exactly "chunked", or with Content-Length -> 400.
// 2. Host: must name this server -> otherwise 421 naming the Host (400 when missing). Allowed:
//    the listen address with the bound port; when listening on loopback also localhost:PORT,
//    127.0.0.1:PORT and [::1]:PORT; on a wildcard address (0.0.0.0, ::) any IP literal with the
//    port (a rebinding attack needs a DNS name); and the names configured in api.allowedHosts
//    ("name", any port, or "name:port"). A Host without a port is compared by name: browsers
//    omit the port only for 80/443, so a rebinding page cannot produce one for our port.
// 3. Origin, on any method but GET/HEAD/OPTIONS: when present it must be an allowed host with
//    its port (the scheme's default when omitted) -> otherwise 403. Browsers send Origin on
//    every cross-origin POST; the CLI and scripts send none.
// 4. Content-Type, on the same methods: application/json (parameters allowed), or none with an
//    empty body -> otherwise 415. This refuses the CORS "simple request" types (text/plain,
//    application/x-www-form-urlencoded, multipart/form-data), which a page may post cross-site
//    without a preflight.
// The webhooks (POST /api/v1/webhooks/github|gitlab) skip 2-4: GitHub and GitLab send their
// own Host, Origin and content types, and each delivery is authenticated by its HMAC or token.
//
// Thread safety: a HostPolicy is immutable once made; guard_request() is reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.h"
#include "base/status.h"

namespace sluice::api {

class HostPolicy {
 public:
  // `listen` as configured ("127.0.0.1:7070", "localhost:0", "[::1]:7070", "0.0.0.0:7070"),
  // `bound_port` the port actually bound, `configured` the api.allowedHosts entries. An entry
  // that is not "host" or "host:port" is an error naming it.
  static Result<HostPolicy> make(std::string_view listen, uint16_t bound_port,
                                 const std::vector<std::string>& configured);

  bool allows_host(std::string_view host_header) const;
  // `origin` is an Origin header value: "scheme://host[:port]"; "null" is never allowed.
  bool allows_origin(std::string_view origin) const;
  // "127.0.0.1:7070, localhost:7070, ..." for messages.
  std::string describe() const;

 private:
  struct Entry {
    std::string host;  // lowercase; IPv6 in brackets
    std::optional<uint16_t> port;
  };
  std::vector<Entry> entries_;
  std::optional<uint16_t> any_ip_literal_port_;  // set for a wildcard listener
};

// Checks an api.allowedHosts entry: "name" or "name:port" (no scheme, path or wildcard).
Status check_allowed_host(std::string_view entry);

// nullopt when the request may be routed; otherwise the answer (after which the session closes
// the connection).
std::optional<Response> guard_request(const Request& request, const HostPolicy& hosts);

}  // namespace sluice::api
