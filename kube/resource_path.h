// REST paths and query strings for the kinds Cluster knows. Internal to kube/.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kube/informer.h"

namespace sluice::kube::internal {

// "/apis/apps/v1/namespaces/shop/replicasets", "/api/v1/namespaces/shop/pods", ...
std::string collection_path(ResourceKind kind, const std::string& namespace_name);
// collection_path + "/" + name (the name percent-encoded).
std::string object_path(const ObjectRef& ref);
// "?a=1&b=x%3Dy": each value percent-encoded (RFC 3986 unreserved characters kept), pairs with
// an empty value left out.
std::string query(const std::vector<std::pair<std::string, std::string>>& params);
std::string percent_encode(const std::string& value);

// object[key] when `object` is an object and that member a string, else "" (never throws).
std::string string_member(const nlohmann::json& object, const char* key);

}  // namespace sluice::kube::internal
