// Human-readable evidence of a decision (the `evidence` object of an event or of `status`):
// analysis runs as one line per measurement, instances as one line each, anything else as
// compact JSON. `-o json` prints the object itself; this is for people reading a CI log.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sluice::cli {

// Lines indented by `indent`, each ending in '\n'; "" for a null or empty evidence object.
std::string render_evidence(const nlohmann::json& evidence, const std::string& indent = "  ");

}  // namespace sluice::cli
