// JSON for the manifest types the controller persists: a revision keeps the whole RolloutSpec it
// was created from (template to start instances, strategy that applies to it), so a restart from
// the journal can keep running an old stable revision whose template is no longer in Git.
#pragma once

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "manifests/types.h"

namespace sluice::controller {

nlohmann::json spec_to_json(const manifests::RolloutSpec& spec);
// Throws nlohmann::json::exception on a malformed document (callers convert at their boundary).
manifests::RolloutSpec spec_from_json(const nlohmann::json& j);

nlohmann::json template_to_json(const manifests::AnalysisTemplate& t);
manifests::AnalysisTemplate template_from_json(const nlohmann::json& j);

}  // namespace sluice::controller
