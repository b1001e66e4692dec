#include "controller/router_runtime_metrics.h"

#include <cmath>

namespace sluice::controller {

std::optional<traffic::SampleKind> sample_kind_for_metric(const std::string& metric) {
  if (metric == "request-duration-p99") return traffic::SampleKind::kRequestDurationMs;
  if (metric == "request-success-rate") return traffic::SampleKind::kSuccessRatePerSecond;
  if (metric == "request-rate") return traffic::SampleKind::kRequestsPerSecond;
  return std::nullopt;
}

std::optional<analysis::RequestStats> RouterRuntimeMetrics::request_stats(
    const std::string& rollout, int64_t revision, Duration window) {
  auto s = router_.stats(rollout, revision, window);
  if (!s) return std::nullopt;
  analysis::RequestStats out;
  out.requests = s->requests;
  out.errors = s->errors_5xx;
  out.p99_ms = s->requests == 0 ? std::nan("") : s->p99_ms;
  out.window_seconds = static_cast<double>(s->window.count()) / 1000.0;
  return out;
}

analysis::InstanceCounts RouterRuntimeMetrics::instances(const std::string& rollout,
                                                         int64_t revision) {
  analysis::InstanceCounts counts;
  for (const auto& i : runtime_.observe(rollout)) {
    if (i.revision != revision || i.terminating) continue;
    ++counts.desired;
    if (i.ready) ++counts.ready;
    counts.restarts += i.restarts;
  }
  return counts;
}

std::vector<std::string> RouterRuntimeMetrics::instance_urls(const std::string& rollout,
                                                             int64_t revision,
                                                             const std::string& port,
                                                             const std::string& path) {
  std::vector<std::string> urls;
  const bool numeric = !port.empty() && port.size() <= 5 &&
                       port.find_first_not_of("0123456789") == std::string::npos;
  for (const auto& i : runtime_.observe(rollout)) {
    if (i.revision != revision || i.pid == 0 || i.terminating) continue;
    int p = 0;
    if (numeric) {
      p = std::stoi(port);
    } else if (auto it = i.ports.find(port); it != i.ports.end()) {
      p = it->second;
    }
    if (p > 0) urls.push_back("http://127.0.0.1:" + std::to_string(p) + path);
  }
  return urls;
}

std::vector<double> RouterRuntimeMetrics::samples(const std::string& rollout, int64_t revision,
                                                  const std::string& metric, Duration window) {
  auto kind = sample_kind_for_metric(metric);
  if (!kind) return {};
  return router_.samples(rollout, revision, *kind, window);
}

}  // namespace sluice::controller
