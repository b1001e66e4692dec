// Runs wrk (argv, no shell) against a loopback port and parses its summary: requests per second,
// latency p50/p99, and whether it reported socket errors or non-2xx answers. For benchmarks only.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::bench {

struct WrkResult {
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double requests = 0;  // "N requests in Xs"
  bool ok = false;     // wrk ran, measured > 0 rps, no socket error, no non-2xx answer
  std::string errors;  // wrk's "Socket errors" / "Non-2xx" lines, if any
};

// wrk -t1 -c<connections> -d<seconds>s --latency http://127.0.0.1:<port>/ (bounded by `seconds`).
WrkResult run_wrk(uint16_t port, int connections, int seconds);

}  // namespace sluice::bench
