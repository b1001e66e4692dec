// The Mann-Whitney U (Wilcoxon rank-sum) test and the Hodges-Lehmann shift estimate, as used by
// Kayenta's MannWhitneyClassifier. Pure math, no I/O.
//
// The p-value is R's wilcox.test(x, y, exact = FALSE, correct = TRUE): the normal approximation
// with the tie correction of the variance and a continuity correction of 0.5 towards the mean.
// The confidence interval of the shift (x - y) is the distribution-free one of Hollander & Wolfe
// (Nonparametric Statistical Methods, 4.3): order statistics C and nm+1-C of the nm pairwise
// differences, C from the normal approximation. It contains the Hodges-Lehmann estimate.
#pragma once

#include <cstddef>
#include <vector>

#include "base/status.h"

namespace sluice::analysis {

struct MannWhitneyResult {
  double u = 0;         // U of x: rank sum of x minus n(n+1)/2 (R prints it as W)
  double z = 0;         // standardized statistic, continuity-corrected
  double p_value = 1;   // two-sided
  double estimate = 0;  // Hodges-Lehmann: median of x_i - y_j
  double ci_low = 0;    // confidence interval of the shift x - y
  double ci_high = 0;
};

// Inputs larger than this are subsampled deterministically (every k-th value): the pairwise
// differences need n*m memory.
inline constexpr size_t kMaxJudgeSamples = 1000;

// x = experiment (canary), y = control (stable). Each needs >= 1 finite value; NaN values are
// dropped. confidence in (0, 1).
Result<MannWhitneyResult> mann_whitney(std::vector<double> x, std::vector<double> y,
                                       double confidence);

double normal_cdf(double z);
// Inverse of normal_cdf for p in (0, 1) (Acklam's rational approximation, |error| < 1.2e-9).
double normal_quantile(double p);

}  // namespace sluice::analysis
