// A paced HTTP/1.1 load client for the benchmarks: `rate` requests per second for `seconds`,
// spread over `connections` keep-alive connections (one thread each) to 127.0.0.1:port. Each
// latency is measured from the request's scheduled send time, not from when it was sent, so a
// slow server cannot hide its queueing (no coordinated omission). Bounded: rate * seconds sends.
#pragma once

#include <string>
#include <vector>

namespace sluice::bench {

struct Latencies {
  std::vector<double> ms;  // one per request answered 2xx
  int errors = 0;          // requests not answered, answered non-2xx, or never sent
  int asked = 0;           // requests scheduled
  // Sorts on first use; 0 when nothing was measured, so never judge a goal by it alone: use
  // complete() first.
  double percentile(double p);
  // Every scheduled request was answered 2xx (a goal is "met" only then).
  bool complete() const {
    return asked > 0 && errors == 0 && ms.size() == static_cast<size_t>(asked);
  }
};

Latencies paced_run(unsigned short port, const std::string& target, int rate, int seconds,
                    int connections);

}  // namespace sluice::bench
