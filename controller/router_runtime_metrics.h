// RouterRuntimeMetrics: the analysis MetricsSource backed by the real Router (request counters
// and judge samples) and Runtime (instance counts and URLs). `sluice serve` wires it
// (cli/serve_wiring.cc); it lives here because healthcheck/ may not depend on traffic/ or
// runtime/, and controller/ is where those modules meet.
//
// Threading: thread-safe as far as the Router and Runtime it reads are (the built-in router's
// reads may run on any thread; HAProxy and the local runtime expect the controller strand, which
// the analysis runner shares under `sluice serve`). Nothing here blocks beyond those reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "healthcheck/analysis/metrics_source.h"
#include "runtime/runtime.h"
#include "traffic/router.h"

namespace sluice::controller {

// The router series behind a built-in metric name, or nullopt for names the router has none for
// (restarts, ready-ratio, unknown names).
std::optional<traffic::SampleKind> sample_kind_for_metric(const std::string& metric);

class RouterRuntimeMetrics final : public analysis::MetricsSource {
 public:
  // Both must outlive this object.
  RouterRuntimeMetrics(const traffic::Router& router, const runtime::Runtime& runtime)
      : router_(router), runtime_(runtime) {}

  std::optional<analysis::RequestStats> request_stats(const std::string& rollout, int64_t revision,
                                                      Duration window) override;
  analysis::InstanceCounts instances(const std::string& rollout, int64_t revision) override;
  std::vector<std::string> instance_urls(const std::string& rollout, int64_t revision,
                                         const std::string& port, const std::string& path) override;
  // request-duration-p99 -> per-request durations (ms), request-success-rate -> per-second
  // success ratios, request-rate -> per-second counts (Router::samples); empty for other names.
  std::vector<double> samples(const std::string& rollout, int64_t revision,
                              const std::string& metric, Duration window) override;

 private:
  const traffic::Router& router_;
  const runtime::Runtime& runtime_;
};

}  // namespace sluice::controller
