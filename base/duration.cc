#include "base/duration.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace sluice {

Result<Duration> parse_duration(std::string_view text) {
  auto bad = [&](const char* why) {
    return invalid_argument(fmt::format(
        "invalid duration \"{}\": {} (use e.g. 500ms, 30s, 5m, 1h, or a number of seconds)", text,
        why));
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 32) return bad("too long");
  double total_ms = 0;
  size_t i = 0;
  bool any = false;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (start == i) return bad("expected a number");
    std::string number(text.substr(start, i - start));
    char* end = nullptr;
    double value = std::strtod(number.c_str(), &end);
    if (end == nullptr || *end != '\0' || !std::isfinite(value)) return bad("bad number");
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double factor;
    if (unit.empty()) {
      if (any || i != text.size()) return bad("a bare number must stand alone");
      factor = 1000;
    } else if (unit == "ms") {
      factor = 1;
    } else if (unit == "s") {
      factor = 1000;
    } else if (unit == "m") {
      factor = 60'000;
    } else if (unit == "h") {
      factor = 3'600'000;
    } else {
      return bad("unknown unit");
    }
    total_ms += value * factor;
    any = true;
  }
  if (total_ms > 366.0 * 24 * 3'600'000) return bad("longer than a year");
  return Duration(static_cast<int64_t>(std::llround(total_ms)));
}

std::string format_duration(Duration d) {
  const int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

}  // namespace sluice
