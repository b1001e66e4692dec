// Helpers shared by the analysis integration tests.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <optional>

#include "healthcheck/analysis/provider.h"

namespace sluice::testing {

// MetricsSource with fixed answers: the router and runtime are not part of these tests.
class FixedMetricsSource final : public analysis::MetricsSource {
 public:
  std::map<int64_t, analysis::RequestStats> stats;
  std::map<int64_t, analysis::InstanceCounts> counts;
  std::map<int64_t, std::vector<std::string>> urls;
  std::map<int64_t, std::vector<double>> sample_values;

  std::optional<analysis::RequestStats> request_stats(const std::string&, int64_t revision,
                                                      Duration) override {
    auto it = stats.find(revision);
    if (it == stats.end()) return std::nullopt;
    return it->second;
  }
  analysis::InstanceCounts instances(const std::string&, int64_t revision) override {
    return counts[revision];
  }
  std::vector<std::string> instance_urls(const std::string&, int64_t revision, const std::string&,
                                         const std::string&) override {
    return urls[revision];
  }
  std::vector<double> samples(const std::string&, int64_t revision, const std::string&,
                              Duration) override {
    return sample_values[revision];
  }
};

inline analysis::MeasureContext test_context(const std::string& run = "run-1") {
  analysis::MeasureContext c;
  c.run = run;
  c.rollout = "orders";
  c.stable_revision = 1;
  c.canary_revision = 2;
  return c;
}

// Runs one measurement of `metric` to completion on a private io_context (bounded: 20 s).
class ProviderHarness {
 public:
  explicit ProviderHarness(analysis::MetricsSource* metrics = nullptr) {
    env_.executor = io_.get_executor();
    env_.clock = &SystemClock::instance();
    env_.metrics = metrics;
    env_.default_timeout = Duration{2000};
  }
  analysis::ProviderEnv& env() { return env_; }

  analysis::Measurement measure(const manifests::Metric& metric,
                                const analysis::MeasureContext& context = test_context()) {
    const std::string name = manifests::provider_name(metric.provider);
    auto& p = providers_[name];
    if (!p) p = analysis::ProviderRegistry::with_defaults().create(name, env_);
    REQUIRE(p);
    std::optional<analysis::Measurement> out;
    io_.restart();  // a previous measure() may have let the context run out of work
    auto guard = boost::asio::make_work_guard(io_);
    p->measure(metric, context, [&](analysis::Measurement m) { out = std::move(m); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!out && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(std::chrono::milliseconds(50));
    }
    REQUIRE(out.has_value());
    return *out;
  }

 private:
  boost::asio::io_context io_;
  analysis::ProviderEnv env_;
  std::map<std::string, std::unique_ptr<analysis::Provider>> providers_;
};

}  // namespace sluice::testing
