// builtin: the router's per-revision request counters and the runtime's instance counts,
// through MetricsSource.
//   request-success-rate  (requests - errors) / requests   NaN without requests
//   request-duration-p99  milliseconds                      NaN without requests
//   request-rate          requests per second over the window
//   restarts              total restarts of the revision's instances
//   ready-ratio           ready / desired                   NaN when desired is 0
#include <boost/asio/post.hpp>
#include <cmath>
#include <limits>

#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class BuiltinProvider final : public Provider {
 public:
  explicit BuiltinProvider(const ProviderEnv& env) : env_(env) {}

  void measure(const manifests::Metric& metric, const MeasureContext& context, Done done) override {
    const auto& b = std::get<manifests::BuiltinMetric>(metric.provider);
    Measurement m = compute(b, context);
    boost::asio::post(env_.executor, [done = std::move(done), m = std::move(m)]() { done(m); });
  }

 private:
  Measurement compute(const manifests::BuiltinMetric& b, const MeasureContext& context) {
    const TimePoint started = env_.clock->now();
    auto revision = revision_for(b.version, context);
    const std::string query = b.metric + "{rollout=" + context.rollout + ",version=" + b.version +
                              (revision ? ",revision=" + std::to_string(*revision) : "") +
                              ",window=" + std::to_string(b.window.count()) + "ms}";
    auto err = [&](std::string message) {
      return error_measurement(*env_.clock, started, query, "builtin: " + std::move(message));
    };
    if (!revision) return err(revision.status().message());
    if (!env_.metrics) return err("no metrics source is configured");
    Measurement m;
    m.phase = AnalysisPhase::kPending;
    m.query = query;
    m.started_at = started;
    if (b.metric == "request-success-rate" || b.metric == "request-duration-p99" ||
        b.metric == "request-rate") {
      auto stats = env_.metrics->request_stats(context.rollout, *revision, b.window);
      if (!stats)
        return err("the router has no requests recorded for revision " + std::to_string(*revision));
      const double requests = static_cast<double>(stats->requests);
      if (b.metric == "request-success-rate") {
        m.value = stats->requests == 0 ? kNaN
                                       : (requests - static_cast<double>(stats->errors)) / requests;
      } else if (b.metric == "request-duration-p99") {
        m.value = stats->requests == 0 ? kNaN : stats->p99_ms;
      } else {
        const double seconds = stats->window_seconds > 0
                                   ? stats->window_seconds
                                   : static_cast<double>(b.window.count()) / 1000.0;
        m.value = seconds > 0 ? requests / seconds : kNaN;
      }
      m.message = std::to_string(stats->requests) + " requests, " + std::to_string(stats->errors) +
                  " errors";
    } else if (b.metric == "restarts" || b.metric == "ready-ratio") {
      const InstanceCounts c = env_.metrics->instances(context.rollout, *revision);
      if (b.metric == "restarts") {
        m.value = c.restarts;
      } else {
        m.value = c.desired == 0 ? kNaN : static_cast<double>(c.ready) / c.desired;
      }
      m.message = std::to_string(c.ready) + "/" + std::to_string(c.desired) + " ready, " +
                  std::to_string(c.restarts) + " restarts";
    } else {
      return err("unknown builtin metric \"" + b.metric + "\"");
    }
    m.finished_at = env_.clock->now();
    return m;
  }

  ProviderEnv env_;
};

}  // namespace

ProviderFactory builtin_provider_factory() {
  return [](const ProviderEnv& env) { return std::make_unique<BuiltinProvider>(env); };
}

}  // namespace sluice::analysis
