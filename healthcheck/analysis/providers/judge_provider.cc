// judge: Kayenta-style canary-vs-stable comparison of one built-in metric.
//
// Samples of the metric for both revisions over `window` come from MetricsSource::samples().
// The Mann-Whitney U test gives a confidence interval (at `confidence`) for the Hodges-Lehmann
// shift canary - stable. As Kayenta's MannWhitneyClassifier:
//   High   the interval lies above 0 and mean(canary)/mean(stable) > allowedIncrease
//          (direction increase or either)
//   Low    the interval lies below 0 and the ratio < allowedDecrease
//          (direction decrease or either; allowedDecrease 0.9 tolerates a 10% drop)
//   Pass   otherwise
//   NoData either side has fewer than kMinJudgeSamples samples
// High/Low -> Failed (critical: the run fails at once), Pass -> Successful,
// NoData -> Inconclusive. The measurement value is the ratio of means.
#include <boost/asio/post.hpp>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "healthcheck/analysis/judge.h"
#include "healthcheck/analysis/mann_whitney.h"
#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

namespace {

constexpr size_t kMinJudgeSamples = 3;

double mean(const std::vector<double>& v) {
  double sum = 0;
  size_t n = 0;
  for (double d : v) {
    if (std::isfinite(d)) {
      sum += d;
      ++n;
    }
  }
  return n ? sum / static_cast<double>(n) : std::nan("");
}

std::string fmt(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

class JudgeProvider final : public Provider {
 public:
  explicit JudgeProvider(const ProviderEnv& env) : env_(env) {}

  void measure(const manifests::Metric& metric, const MeasureContext& context, Done done) override {
    const auto& j = std::get<manifests::JudgeMetric>(metric.provider);
    Measurement m = judge(j, context);
    boost::asio::post(env_.executor, [done = std::move(done), m = std::move(m)]() { done(m); });
  }

 private:
  Measurement judge(const manifests::JudgeMetric& j, const MeasureContext& context) {
    const TimePoint started = env_.clock->now();
    const std::string query = "judge " + j.metric + " canary r" +
                              std::to_string(context.canary_revision) + " vs stable r" +
                              std::to_string(context.stable_revision) + " (" + j.direction +
                              ", window " + std::to_string(j.window.count()) + "ms)";
    if (!env_.metrics) {
      return error_measurement(*env_.clock, started, query,
                               "judge: no metrics source is configured");
    }
    if (j.direction != "increase" && j.direction != "decrease" && j.direction != "either") {
      return error_measurement(*env_.clock, started, query,
                               "judge: direction must be increase, decrease or either");
    }
    const auto canary =
        env_.metrics->samples(context.rollout, context.canary_revision, j.metric, j.window);
    const auto stable =
        env_.metrics->samples(context.rollout, context.stable_revision, j.metric, j.window);
    Measurement m;
    m.query = query;
    m.started_at = started;
    m.finished_at = env_.clock->now();
    JudgeVerdict v = classify(canary, stable, j);
    m.phase = v.phase;
    m.message = v.message;
    m.value = v.ratio;  // NaN for NoData
    return m;
  }

  ProviderEnv env_;
};

}  // namespace

JudgeVerdict classify(const std::vector<double>& canary, const std::vector<double>& stable,
                      const manifests::JudgeMetric& j) {
  JudgeVerdict v;
  const std::string counts = " (canary n=" + std::to_string(canary.size()) +
                             ", stable n=" + std::to_string(stable.size()) + ")";
  if (canary.size() < kMinJudgeSamples || stable.size() < kMinJudgeSamples) {
    v.classification = "NoData";
    v.phase = AnalysisPhase::kInconclusive;
    v.message = "NoData: fewer than " + std::to_string(kMinJudgeSamples) + " samples" + counts;
    return v;
  }
  auto mw = mann_whitney(canary, stable, j.confidence);
  if (!mw) {
    v.classification = "NoData";
    v.phase = AnalysisPhase::kInconclusive;
    v.message = "NoData: " + mw.status().message() + counts;
    return v;
  }
  const double cm = mean(canary), sm = mean(stable);
  v.ratio = sm != 0 ? cm / sm : (cm == 0 ? 1.0 : std::numeric_limits<double>::infinity());
  const bool up = j.direction == "increase" || j.direction == "either";
  const bool down = j.direction == "decrease" || j.direction == "either";
  const std::string detail = "canary/stable mean ratio " + fmt(v.ratio) + ", shift " +
                             fmt(mw->estimate) + " in [" + fmt(mw->ci_low) + ", " +
                             fmt(mw->ci_high) + "] at " + fmt(j.confidence * 100) +
                             "%, p=" + fmt(mw->p_value) + counts;
  if (up && mw->ci_low > 0 && v.ratio > j.allowed_increase) {
    v.classification = "High";
    v.phase = AnalysisPhase::kFailed;
    v.message = "High: " + detail + " > allowedIncrease " + fmt(j.allowed_increase);
  } else if (down && mw->ci_high < 0 && v.ratio < j.allowed_decrease) {
    v.classification = "Low";
    v.phase = AnalysisPhase::kFailed;
    v.message = "Low: " + detail + " < allowedDecrease " + fmt(j.allowed_decrease);
  } else {
    v.classification = "Pass";
    v.phase = AnalysisPhase::kSuccessful;
    v.message = "Pass: " + detail;
  }
  return v;
}

ProviderFactory judge_provider_factory() {
  return [](const ProviderEnv& env) { return std::make_unique<JudgeProvider>(env); };
}

}  // namespace sluice::analysis
