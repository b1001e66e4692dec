// The judge's classification (Kayenta MannWhitneyClassifier), pure; used by
// providers/judge_provider.cc and unit-tested directly.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "healthcheck/analysis/analysis.h"
#include "manifests/types.h"

namespace sluice::analysis {

struct JudgeVerdict {
  std::string classification;  // High | Low | Pass | NoData
  AnalysisPhase phase = AnalysisPhase::kInconclusive;
  double ratio = std::numeric_limits<double>::quiet_NaN();  // mean(canary) / mean(stable)
  std::string message;
};

JudgeVerdict classify(const std::vector<double>& canary, const std::vector<double>& stable,
                      const manifests::JudgeMetric& judge);

}  // namespace sluice::analysis
