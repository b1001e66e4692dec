// JSON form of RevisionSpec, persisted in the state dir so that a restarted runtime can keep
// supervising adopted instances (probes, restarts, hooks) before the controller calls scale().
#pragma once

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "runtime/runtime.h"

namespace sluice::runtime {

nlohmann::json revision_to_json(const RevisionSpec& spec);
Result<RevisionSpec> revision_from_json(const nlohmann::json& json);

}  // namespace sluice::runtime
