// What the built-in, scrape and judge providers read from the rest of Sluice.
//
// healthcheck/ may not depend on traffic/ or runtime/ (CONVENTIONS.md), so the controller wires
// an implementation backed by the Router's per-revision counters and the Runtime's instances.
// Threading: called on the analysis executor; implementations must be thread-safe and must not
// block (they read counters that are already in memory).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"

namespace sluice::analysis {

struct RequestStats {
  uint64_t requests = 0;      // completed requests in the window
  uint64_t errors = 0;        // of which failed (5xx, connection errors)
  double p99_ms = 0;          // 99th percentile duration; NaN when no requests
  double window_seconds = 0;  // the span actually covered (<= the asked window)
};

struct InstanceCounts {
  int desired = 0;
  int ready = 0;
  int restarts = 0;  // total restarts of the revision's instances
};

class MetricsSource {
 public:
  virtual ~MetricsSource() = default;
  // Router counters for one revision over the last `window`; nullopt when the router has never
  // seen the revision.
  virtual std::optional<RequestStats> request_stats(const std::string& rollout, int64_t revision,
                                                    Duration window) = 0;
  virtual InstanceCounts instances(const std::string& rollout, int64_t revision) = 0;
  // http://127.0.0.1:<port><path> for every running instance of the revision; `port` is a named
  // template port or a number.
  virtual std::vector<std::string> instance_urls(const std::string& rollout, int64_t revision,
                                                 const std::string& port,
                                                 const std::string& path) = 0;
  // Recent observations of a built-in metric for the judge: per-request durations (ms) for
  // request-duration-p99, per-second ratios for request-success-rate, per-second counts for
  // request-rate. Most recent last; empty when none.
  virtual std::vector<double> samples(const std::string& rollout, int64_t revision,
                                      const std::string& metric, Duration window) = 0;
};

}  // namespace sluice::analysis
