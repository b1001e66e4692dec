// RouteTable, Endpoint and VersionStats as JSON: what the controller sends the router process
// over its control socket (traffic/router_control.h) and what the router keeps in its state
// dir. Decoding is strict: a missing or mistyped field is an error naming it.
#pragma once

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "traffic/router.h"

namespace sluice::traffic {

nlohmann::json to_json(const RouteTable& table);
Result<RouteTable> route_table_from_json(const nlohmann::json& j);

nlohmann::json to_json(const Endpoint& endpoint);
Result<Endpoint> endpoint_from_json(const nlohmann::json& j);

nlohmann::json to_json(const VersionStats& stats);
Result<VersionStats> version_stats_from_json(const nlohmann::json& j);

}  // namespace sluice::traffic
