// Tunables of the built-in router's HTTP proxy (one set per BuiltinRouter).
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/clock.h"

namespace sluice::traffic {

struct ProxyOptions {
  int threads = 1;                           // I/O threads running the router's io_context
  Duration upstream_connect_timeout{2'000};  // TCP connect to an endpoint -> 502 on failure
  Duration upstream_timeout{30'000};         // write the request + read the response -> 504
  // Reading one client request (headers and body) and the keep-alive idle wait between requests.
  // A client that trickles its header (slowloris) is disconnected when this expires.
  Duration client_timeout{30'000};
  uint32_t max_header_bytes = 16 * 1024;                // -> 431
  uint64_t max_request_body_bytes = 8 * 1024 * 1024;    // -> 413
  uint64_t max_response_body_bytes = 64 * 1024 * 1024;  // larger upstream answer -> 502
  bool version_header = true;             // add X-Sluice-Version: <version> to proxied responses
  size_t idle_upstreams_per_session = 4;  // keep-alive upstream connections a client session keeps
  // Connection limits of a front door (issue 19: idle connections once exhausted the process's
  // descriptors). Over a limit, a new connection is answered 503 and closed at once.
  size_t max_connections_per_door = 1024;
  size_t max_connections_per_client = 128;  // per client IP address
  // The door stops accepting while fewer descriptors than this are free in the process (see
  // base/descriptors.h), so probes, the API and the journal always find one; pending
  // connections wait in the kernel's backlog meanwhile.
  uint64_t descriptor_reserve = 256;
};

}  // namespace sluice::traffic
