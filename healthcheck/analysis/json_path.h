// The JSONPath subset of the web provider: `$`, `.name`, `['name']`, `[index]`, e.g.
// `$.data.errorRate`, `$.results[0].value`, `$['odd key']`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace sluice::analysis {

// The node at path, or an error naming the step that did not match.
Result<const nlohmann::json*> json_path_select(const nlohmann::json& root, const std::string& path);

}  // namespace sluice::analysis
