// Human-readable evidence of a decision (the `evidence` object of an event or of `status`):
// analysis runs as one line per measurement, instances as one line each, anything else as
// compact JSON. `-o json` prints the object itself; this is for people reading a CI log.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sluice::cli {

// Lines indented by `indent`, each ending in '\n'; "" for a null or empty evidence object.
std::string render_evidence(const nlohmann::json& evidence, const std::string& indent = "  ");

// Gate webhook calls (the rollout object's `webhookCalls`, an event's `evidence.webhook.calls`):
// one line per call, oldest first, at most the newest `limit`: time, webhook (type), revision,
// answer (HTTP status or the error), duration and the start of the body.
std::string render_webhook_calls(const nlohmann::json& calls, const std::string& indent = "  ",
                                 size_t limit = 10);

}  // namespace sluice::cli
