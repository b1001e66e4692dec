// A paced HTTP/1.1 load client for the benchmarks: `rate` requests per second for `seconds`,
// spread over `connections` keep-alive connections (one thread each) to 127.0.0.1:port. Each
// latency is measured from the request's scheduled send time, not from when it was sent, so a
// slow server cannot hide its queueing (no coordinated omission). Bounded: rate * seconds sends.
#pragma once

#include <string>
#include <vector>

namespace sluice::bench {

struct Latencies {
  std::vector<double> ms;
  int errors = 0;
  // Sorts on first use; 0 when nothing was measured.
  double percentile(double p);
};

Latencies paced_run(unsigned short port, const std::string& target, int rate, int seconds,
                    int connections);

}  // namespace sluice::bench
