// Metric providers: one per `provider:` kind, registered by name in a ProviderRegistry
// (CONVENTIONS.md, pattern 10).
//
// Contract of measure(): asynchronous, never throws, never blocks the calling thread; `done` is
// called exactly once, on env.executor, with a Measurement whose `query` is what was sent
// (query, URL, argv) and whose phase is Error (with the reason) when the provider failed,
// Pending when conditions should decide, or the provider's own verdict (job, judge). Every
// provider enforces its timeout and bounds what it reads (env.max_response_bytes).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "healthcheck/analysis/analysis.h"
#include "healthcheck/analysis/metrics_source.h"
#include "manifests/types.h"

namespace sluice::analysis {

struct ProviderEnv {
  boost::asio::any_io_executor executor;
  const Clock* clock = nullptr;
  MetricsSource* metrics = nullptr;  // null: builtin, scrape and judge report an Error
  std::string default_prometheus_address;
  size_t max_response_bytes = 1 << 20;
  // For providers without a timeout field (scrape, rabbitmq, kafka).
  Duration default_timeout{5000};
};

// Which run asks, for providers that need the revisions or keep per-run state.
struct MeasureContext {
  std::string run;
  std::string rollout;
  int64_t stable_revision = 0;
  int64_t canary_revision = 0;
};

class Provider {
 public:
  virtual ~Provider() = default;
  using Done = std::function<void(Measurement)>;
  // `metric` has its arguments substituted already.
  virtual void measure(const manifests::Metric& metric, const MeasureContext& context,
                       Done done) = 0;
  // The run ended: drop any state kept for it (e.g. the scrape provider's previous samples).
  virtual void forget_run(const std::string& /*run*/) {}
  // The runner is going away: wait for work on threads the provider owns (job processes,
  // bounded by their timeouts). Called once, not on the executor's or the provider's threads.
  virtual void shutdown() {}
};

using ProviderFactory = std::function<std::unique_ptr<Provider>(const ProviderEnv&)>;

class ProviderRegistry {
 public:
  void add(const std::string& name, ProviderFactory factory) {
    factories_[name] = std::move(factory);
  }
  // nullptr for an unknown name.
  std::unique_ptr<Provider> create(const std::string& name, const ProviderEnv& env) const;
  bool has(const std::string& name) const { return factories_.count(name) > 0; }

  // Every provider in providers/. Self-registering static objects would be dropped by the linker
  // from a static library, so the list is explicit: adding a provider is a new file in
  // providers/ plus one line in provider_registry.cc.
  static ProviderRegistry with_defaults();

 private:
  std::map<std::string, ProviderFactory> factories_;
};

// Factories defined in providers/<name>_provider.cc.
ProviderFactory builtin_provider_factory();
ProviderFactory prometheus_provider_factory();
ProviderFactory scrape_provider_factory();
ProviderFactory web_provider_factory();
ProviderFactory job_provider_factory();
ProviderFactory rabbitmq_provider_factory();
ProviderFactory kafka_provider_factory();
ProviderFactory judge_provider_factory();

// Helpers shared by providers.
Measurement error_measurement(const Clock& clock, TimePoint started, std::string query,
                              std::string message);
// The revision a `version:` field names: canary (and preview) or stable.
Result<int64_t> revision_for(const std::string& version, const MeasureContext& context);

}  // namespace sluice::analysis
