// Parser of the Prometheus text exposition format (version 0.0.4), for the scrape provider.
//
// Robust by contract: any byte sequence parses; lines that are not comments, blank lines or
// valid samples are skipped and counted in garbage_lines. Bounded: at most max_samples samples
// are kept (the rest are counted as dropped), label values are unescaped (\\, \", \n).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::analysis {

struct PromSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;  // NaN, +Inf and -Inf are valid values
  std::optional<int64_t> timestamp_ms;
};

struct PromText {
  std::vector<PromSample> samples;
  size_t garbage_lines = 0;
  size_t dropped_samples = 0;
};

PromText parse_prometheus_text(std::string_view text, size_t max_samples = 100'000);

// Sum of the values of every sample named `name` (any labels); nullopt when there is none.
std::optional<double> sum_samples(const PromText& text, const std::string& name);

}  // namespace sluice::analysis
