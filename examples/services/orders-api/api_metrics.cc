#include "examples/services/orders-api/api_metrics.h"

#include <cstdio>

#include "examples/services/common/service_util.h"

namespace sluice::examples {

void ApiMetrics::begin_request() {
  std::lock_guard lock(mu_);
  ++in_flight_;
}

void ApiMetrics::end_request(int code, double seconds) {
  std::lock_guard lock(mu_);
  --in_flight_;
  ++requests_by_code_[code];
  ++duration_count_;
  duration_sum_ += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++bucket_counts_[i];
      break;
    }
  }
}

std::string ApiMetrics::render(const std::string& role, uint64_t published,
                               uint64_t publish_dropped) const {
  std::lock_guard lock(mu_);
  const std::string labels =
      "version=\"" + prom_escape(version_) + "\",role=\"" + prom_escape(role) + "\"";
  std::string out;
  out += "# HELP orders_requests_total Application requests answered, by status code.\n";
  out += "# TYPE orders_requests_total counter\n";
  for (const auto& [code, count] : requests_by_code_) {
    out += "orders_requests_total{" + labels + ",code=\"" + std::to_string(code) + "\"} " +
           std::to_string(count) + "\n";
  }
  out += "# HELP orders_request_duration_seconds Application request latency.\n";
  out += "# TYPE orders_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    cumulative += bucket_counts_[i];
    char le[32];
    std::snprintf(le, sizeof(le), "%g", kBuckets[i]);
    out += "orders_request_duration_seconds_bucket{" + labels + ",le=\"" + le + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "orders_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
         std::to_string(duration_count_) + "\n";
  char sum[64];
  std::snprintf(sum, sizeof(sum), "%.6f", duration_sum_);
  out += "orders_request_duration_seconds_sum{" + labels + "} " + sum + "\n";
  out += "orders_request_duration_seconds_count{" + labels + "} " +
         std::to_string(duration_count_) + "\n";
  out += "# HELP orders_requests_in_flight Application requests being handled.\n";
  out += "# TYPE orders_requests_in_flight gauge\n";
  out += "orders_requests_in_flight{" + labels + "} " + std::to_string(in_flight_) + "\n";
  out += "# HELP orders_published_total Order events published to RabbitMQ.\n";
  out += "# TYPE orders_published_total counter\n";
  out += "orders_published_total{" + labels + "} " + std::to_string(published) + "\n";
  out += "# HELP orders_publish_dropped_total Order events dropped (publisher queue full).\n";
  out += "# TYPE orders_publish_dropped_total counter\n";
  out += "orders_publish_dropped_total{" + labels + "} " + std::to_string(publish_dropped) + "\n";
  return out;
}

}  // namespace sluice::examples
