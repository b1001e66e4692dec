// libFuzzer target: the Prometheus text parser accepts any bytes, never crashes, and keeps its
// bounds (samples <= max, every line either a sample, skipped or counted as garbage).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "healthcheck/analysis/prometheus_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = sluice::analysis::parse_prometheus_text(text, 64);
  if (parsed.samples.size() > 64) std::abort();
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  if (parsed.samples.size() + parsed.garbage_lines + parsed.dropped_samples > lines) std::abort();
  (void)sluice::analysis::sum_samples(parsed, "x");
  return 0;
}
