// Feeds arbitrary bytes to the manifest loader. It must never crash, hang or exhaust memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "manifests/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sluice::manifests::LoadLimits limits;
  limits.max_nodes = 20'000;
  // A text yaml-cpp never finishes costs one parse-guard timeout, well inside -timeout.
  limits.parse_timeout = std::chrono::milliseconds(1000);
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto set = sluice::manifests::load_files({{"fuzz.yaml", text}}, limits);
  for (const auto& d : set.diagnostics) (void)d.to_string();
  return 0;
}
