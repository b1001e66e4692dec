// The duration syntax shared by manifests and flags: "500ms", "30s", "5m", "1h", or a bare
// number of seconds ("2", "0.5"). Combinations like "1m30s" are accepted too.
#pragma once

#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"

namespace sluice {

Result<Duration> parse_duration(std::string_view text);
// The shortest exact spelling: 1500ms -> "1500ms", 30000ms -> "30s", 300000ms -> "5m".
std::string format_duration(Duration d);

}  // namespace sluice
