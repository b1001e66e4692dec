#include "healthcheck/analysis/mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace sluice::analysis {

namespace {

std::vector<double> clean(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double d) { return !std::isfinite(d); }), v.end());
  if (v.size() > kMaxJudgeSamples) {
    std::vector<double> sub;
    const double step = static_cast<double>(v.size()) / static_cast<double>(kMaxJudgeSamples);
    for (size_t i = 0; i < kMaxJudgeSamples; ++i) {
      sub.push_back(v[static_cast<size_t>(static_cast<double>(i) * step)]);
    }
    v = std::move(sub);
  }
  return v;
}

}  // namespace

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double plow = 0.02425;
  if (p <= 0) return -INFINITY;
  if (p >= 1) return INFINITY;
  if (p < plow) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - plow) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

Result<MannWhitneyResult> mann_whitney(std::vector<double> x, std::vector<double> y,
                                       double confidence) {
  x = clean(std::move(x));
  y = clean(std::move(y));
  if (x.empty() || y.empty()) return invalid_argument("both samples need at least one value");
  if (!(confidence > 0 && confidence < 1)) return invalid_argument("confidence must be in (0, 1)");
  const double n = static_cast<double>(x.size());
  const double m = static_cast<double>(y.size());

  // Midranks over the pooled sample; tie groups feed the variance correction.
  std::vector<std::pair<double, bool>> pooled;  // (value, from x)
  pooled.reserve(x.size() + y.size());
  for (double v : x) pooled.emplace_back(v, true);
  for (double v : y) pooled.emplace_back(v, false);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum_x = 0;
  double tie_term = 0;  // sum over tie groups of t^3 - t
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double midrank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    for (size_t k = i; k < j; ++k) {
      if (pooled[k].second) rank_sum_x += midrank;
    }
    tie_term += t * t * t - t;
    i = j;
  }
  MannWhitneyResult r;
  r.u = rank_sum_x - n * (n + 1) / 2;
  const double mean = n * m / 2;
  const double sigma = std::sqrt((n * m / 12) * ((n + m + 1) - tie_term / ((n + m) * (n + m - 1))));
  if (sigma > 0) {
    const double diff = r.u - mean;
    const double correction = diff > 0 ? 0.5 : (diff < 0 ? -0.5 : 0.0);
    r.z = (diff - correction) / sigma;
    r.p_value = std::min(1.0, 2 * std::min(normal_cdf(r.z), normal_cdf(-r.z)));
  } else {
    r.z = 0;  // every value tied: no evidence of a shift
    r.p_value = 1;
  }

  // Hodges-Lehmann estimate and its interval from the pairwise differences.
  std::vector<double> diffs;
  diffs.reserve(x.size() * y.size());
  for (double a : x) {
    for (double b : y) diffs.push_back(a - b);
  }
  std::sort(diffs.begin(), diffs.end());
  const size_t nd = diffs.size();
  r.estimate = nd % 2 ? diffs[nd / 2] : (diffs[nd / 2 - 1] + diffs[nd / 2]) / 2;
  const double zq = normal_quantile(1 - (1 - confidence) / 2);
  double c = std::floor(mean - zq * std::sqrt(n * m * (n + m + 1) / 12));
  if (c < 1) c = 1;
  const size_t lo = static_cast<size_t>(c) - 1;   // 0-based order statistic C
  const size_t hi = nd - static_cast<size_t>(c);  // 0-based order statistic nm + 1 - C
  r.ci_low = diffs[std::min(lo, nd - 1)];
  r.ci_high = diffs[std::min(std::max(hi, lo), nd - 1)];
  return r;
}

}  // namespace sluice::analysis
