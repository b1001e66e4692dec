// Request counters and latency histogram of orders-api, rendered as Prometheus text.
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace sluice::examples {

class ApiMetrics {
 public:
  explicit ApiMetrics(std::string version) : version_(std::move(version)) {}

  void begin_request();
  void end_request(int code, double seconds);
  // `role` is read by the caller from the role file on every render.
  std::string render(const std::string& role, uint64_t published, uint64_t publish_dropped) const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1,    2.5,   5};
  std::string version_;
  mutable std::mutex mu_;
  std::map<int, uint64_t> requests_by_code_;
  std::array<uint64_t, kBuckets.size()> bucket_counts_{};  // non-cumulative
  uint64_t duration_count_ = 0;
  double duration_sum_ = 0;
  int64_t in_flight_ = 0;
};

}  // namespace sluice::examples
