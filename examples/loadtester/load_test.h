// The load-test hook's logic, separate from its HTTP server: read a gate webhook's POST body
// (Sluice's and Flagger's: {"name", "namespace", "phase", ..., "metadata": {...}}), run wrk on a
// loopback target as an argv array, and judge wrk's report.
//
// Only loopback targets: the receiver runs load against whatever URL a POST names, so anyone who
// can reach it could aim wrk at any host (a load amplifier, and a way to probe the network it
// sits in). This example runs next to Sluice and the services on one machine; a real deployment
// would keep an allow-list of targets instead.
//
// Thread-safe: every function works on its arguments only.
#pragma once

#include <string>

#include "base/status.h"

namespace sluice::examples {

struct LoadTestLimits {
  std::string wrk = "wrk";   // the wrk binary (PATH lookup unless it holds a '/')
  int max_duration_seconds = 60;
  int max_connections = 64;
};

struct LoadTestRequest {
  std::string url;          // metadata.url: http://127.0.0.1:PORT/path (loopback only)
  int duration_seconds = 10;  // metadata.duration: "10s" or "1m"
  int connections = 4;        // metadata.connections
  int threads = 1;            // min(connections, 2)
  std::string rollout;        // the body's "name", for the log
};

// True for http:// URLs whose host is in 127.0.0.0/8, "localhost" or [::1].
bool is_loopback_http_url(const std::string& url);

// kInvalidArgument naming the field ("metadata.url: ...") when the body is not usable.
Result<LoadTestRequest> load_test_from_body(const std::string& body, const LoadTestLimits& limits);

struct LoadTestOutcome {
  int http_status = 200;  // 200 clean, 500 errors seen (or wrk failed)
  std::string json;       // {"ok", "message", "requests", "non2xx3xx", "socketErrors", ...}
};

// Runs wrk (bounded: it is killed duration + 15 s after its start) and judges its report.
LoadTestOutcome run_load_test(const LoadTestRequest& request, const LoadTestLimits& limits);

}  // namespace sluice::examples
