// AnalysisRunnerImpl: drives AnalysisRunState with timers on an Asio executor and the metric
// providers of a ProviderRegistry.
//
// Threading: every public method may be called from any thread (an internal mutex guards the
// runs). Timers and provider callbacks run on `executor`; the listener is called on the
// executor or on the calling thread, never with the mutex held. Time comes from `clock` (wall
// time for timestamps; delays are turned into steady timers).
// Lifetime: destroying the runner cancels all runs and waits for running job processes (bounded
// by their timeouts); other measurements still in flight finish on the executor and are dropped.
// The executor's context must outlive the runner.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "healthcheck/analysis/analysis.h"
#include "healthcheck/analysis/metrics_source.h"
#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

struct AnalysisRunnerOptions {
  std::string default_prometheus_address;  // used when provider.prometheus.address is empty
  size_t max_response_bytes = 1 << 20;
  Duration default_timeout{5000};  // scrape and rabbitmq requests
};

class AnalysisRunnerImpl final : public AnalysisRunner {
 public:
  // metrics may be null (builtin/scrape/judge metrics then measure as Error). It must outlive
  // the runner.
  AnalysisRunnerImpl(boost::asio::any_io_executor executor, const Clock& clock,
                     MetricsSource* metrics, AnalysisRunnerOptions options = {},
                     ProviderRegistry registry = ProviderRegistry::with_defaults());
  ~AnalysisRunnerImpl() override;
  AnalysisRunnerImpl(const AnalysisRunnerImpl&) = delete;
  AnalysisRunnerImpl& operator=(const AnalysisRunnerImpl&) = delete;

  void start(const AnalysisRunSpec& spec) override;
  void terminate(const std::string& name) override;
  void forget(const std::string& name) override;
  std::optional<AnalysisRunStatus> status(const std::string& name) const override;
  void set_listener(Listener listener) override;

  struct Inner;

 private:
  std::shared_ptr<Inner> inner_;
};

}  // namespace sluice::analysis
