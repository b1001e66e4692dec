// The nine notification triggers (Argo Rollouts' names) and the one table that maps a recorded
// event (controller::Controller::record: {id,time,rollout,revision,version,commit,type,from,to,
// reason,message,actor,evidence}) to them. docs/notifications.md, "Triggers", shows the table.
//
// Pure functions; thread-safe.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::notify {

inline constexpr std::array<std::string_view, 9> kTriggerNames = {
    "on-rollout-updated",      "on-rollout-step-completed", "on-rollout-paused",
    "on-rollout-completed",    "on-rollout-aborted",        "on-analysis-run-running",
    "on-analysis-run-failed",  "on-analysis-run-error",     "on-scaling-replica-set"};

bool is_trigger(std::string_view name);

// The known trigger closest to `name` (edit distance), or "" when none is close: for
// "did you mean" in config errors.
std::string closest_trigger(std::string_view name);

// Every trigger `event` fires, in kTriggerNames order, each at most once. An event may fire
// several (an abort by analysis is on-rollout-aborted and on-analysis-run-failed); most fire none.
std::vector<std::string> triggers_for(const nlohmann::json& event);

}  // namespace sluice::notify
