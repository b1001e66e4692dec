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

// The strategy's step list for the read model (the rollout object's `steps`), spelled as in the
// manifest (../shared/reference/manifest.md) so that users recognise their own YAML:
// {"setWeight":20}, {"pause":{"duration":"5s"}} or {"pause":{}} (wait for promote),
// {"setCanaryScale":{"replicas":2}}, {"analysis":{"templates":[{"templateName":"x"}],
// "args":[{"name":"a","value":"b"}]}}, {"setHeaderRoute":{"name":..,"match":[..]}}.
// Index i is the step that `currentStepIndex` == i refers to. Rolling and blue-green: [].
nlohmann::json manifest_steps_json(const manifests::Strategy& strategy);
manifests::AnalysisTemplate template_from_json(const nlohmann::json& j);

}  // namespace sluice::controller
