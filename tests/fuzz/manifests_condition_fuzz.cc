// libFuzzer target: the condition language must never crash, hang or throw on any text, and
// evaluation of anything that parses must return a value or an error.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "manifests/condition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto condition = sluice::manifests::Condition::parse(text);
  if (!condition.is_ok()) return 0;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  (void)condition->evaluate(0.5);
  (void)condition->evaluate(nan);
  (void)condition->evaluate({}, true);
  (void)condition->evaluate({1.0, 2.0, nan, -3.0}, true);
  return 0;
}
