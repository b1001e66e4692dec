#include "traffic/route_codec.h"

#include <cmath>

#include <fmt/format.h>

namespace sluice::traffic {

using nlohmann::json;

namespace {

json string_match_to_json(const manifests::StringMatch& m) {
  json j = json::object();
  if (m.exact) j["exact"] = *m.exact;
  if (m.prefix) j["prefix"] = *m.prefix;
  if (m.regex) j["regex"] = *m.regex;
  return j;
}

// Field readers that throw std::invalid_argument naming the field; route_table_from_json turns
// that into a Status at its boundary.
const json& field(const json& j, const char* name, const std::string& path) {
  if (!j.is_object() || !j.contains(name)) {
    throw std::invalid_argument(fmt::format("{}{}: missing", path, name));
  }
  return j.at(name);
}
std::string str(const json& j, const char* name, const std::string& path) {
  const json& v = field(j, name, path);
  if (!v.is_string()) throw std::invalid_argument(fmt::format("{}{}: must be a string", path, name));
  return v.get<std::string>();
}
int64_t integer(const json& j, const char* name, const std::string& path) {
  const json& v = field(j, name, path);
  if (!v.is_number_integer()) {
    throw std::invalid_argument(fmt::format("{}{}: must be an integer", path, name));
  }
  return v.get<int64_t>();
}
const json& array(const json& j, const char* name, const std::string& path) {
  const json& v = field(j, name, path);
  if (!v.is_array()) throw std::invalid_argument(fmt::format("{}{}: must be a list", path, name));
  return v;
}
std::optional<std::string> optional_str(const json& j, const char* name, const std::string& path) {
  if (!j.contains(name) || j.at(name).is_null()) return std::nullopt;
  return str(j, name, path);
}

Endpoint endpoint_of(const json& j, const std::string& path) {
  Endpoint e;
  e.instance_id = str(j, "instanceId", path);
  e.host = str(j, "host", path);
  e.port = static_cast<int>(integer(j, "port", path));
  return e;
}

}  // namespace

json to_json(const Endpoint& e) {
  return {{"instanceId", e.instance_id}, {"host", e.host}, {"port", e.port}};
}

Result<Endpoint> endpoint_from_json(const json& j) {
  try {
    return endpoint_of(j, "endpoint.");
  } catch (const std::exception& e) {
    return invalid_argument(e.what());
  }
}

json to_json(const RouteTable& t) {
  json revisions = json::array();
  for (const auto& r : t.revisions) {
    json endpoints = json::array();
    for (const auto& e : r.ready_endpoints) endpoints.push_back(to_json(e));
    revisions.push_back({{"revision", r.revision},
                         {"version", r.version},
                         {"role", r.role},
                         {"weightPercent", r.weight_percent},
                         {"readyEndpoints", std::move(endpoints)}});
  }
  json header_routes = json::array();
  for (const auto& h : t.header_routes) {
    json match = json::array();
    for (const auto& m : h.match) {
      match.push_back({{"headerName", m.header_name},
                       {"headerValue", string_match_to_json(m.header_value)}});
    }
    header_routes.push_back(
        {{"name", h.name}, {"match", std::move(match)}, {"revision", h.revision}});
  }
  json j = {{"rollout", t.rollout},
            {"listen", t.listen},
            {"previewListen", t.preview_listen},
            {"revisions", std::move(revisions)},
            {"headerRoutes", std::move(header_routes)}};
  j["previewRevision"] = t.preview_revision ? json(*t.preview_revision) : json(nullptr);
  if (t.haproxy) {
    j["haproxy"] = {{"runtimeAPI", t.haproxy->runtime_api}, {"backend", t.haproxy->backend}};
  }
  return j;
}

Result<RouteTable> route_table_from_json(const json& j) {
  try {
    RouteTable t;
    t.rollout = str(j, "rollout", "");
    t.listen = str(j, "listen", "");
    t.preview_listen = str(j, "previewListen", "");
    const json& revisions = array(j, "revisions", "");
    for (size_t i = 0; i < revisions.size(); ++i) {
      const std::string path = fmt::format("revisions[{}].", i);
      const json& r = revisions[i];
      RevisionRoute route;
      route.revision = integer(r, "revision", path);
      route.version = str(r, "version", path);
      route.role = str(r, "role", path);
      route.weight_percent = static_cast<int>(integer(r, "weightPercent", path));
      const json& endpoints = array(r, "readyEndpoints", path);
      for (size_t k = 0; k < endpoints.size(); ++k) {
        route.ready_endpoints.push_back(
            endpoint_of(endpoints[k], fmt::format("{}readyEndpoints[{}].", path, k)));
      }
      t.revisions.push_back(std::move(route));
    }
    if (j.contains("previewRevision") && !j.at("previewRevision").is_null()) {
      t.preview_revision = integer(j, "previewRevision", "");
    }
    const json& header_routes = array(j, "headerRoutes", "");
    for (size_t i = 0; i < header_routes.size(); ++i) {
      const std::string path = fmt::format("headerRoutes[{}].", i);
      const json& h = header_routes[i];
      HeaderRoute route;
      route.name = str(h, "name", path);
      route.revision = integer(h, "revision", path);
      const json& match = array(h, "match", path);
      for (size_t k = 0; k < match.size(); ++k) {
        const std::string mpath = fmt::format("{}match[{}].", path, k);
        manifests::HeaderRouteMatch m;
        m.header_name = str(match[k], "headerName", mpath);
        const json& value = field(match[k], "headerValue", mpath);
        m.header_value.exact = optional_str(value, "exact", mpath + "headerValue.");
        m.header_value.prefix = optional_str(value, "prefix", mpath + "headerValue.");
        m.header_value.regex = optional_str(value, "regex", mpath + "headerValue.");
        route.match.push_back(std::move(m));
      }
      t.header_routes.push_back(std::move(route));
    }
    if (j.contains("haproxy") && !j.at("haproxy").is_null()) {
      manifests::HaproxyRouting h;
      h.runtime_api = str(j.at("haproxy"), "runtimeAPI", "haproxy.");
      h.backend = str(j.at("haproxy"), "backend", "haproxy.");
      t.haproxy = std::move(h);
    }
    return t;
  } catch (const std::exception& e) {
    return invalid_argument(fmt::format("route table: {}", e.what()));
  }
}

json to_json(const VersionStats& s) {
  // NaN (no requests) is not JSON: it travels as null.
  auto number = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  return {{"requests", s.requests},      {"errors5xx", s.errors_5xx},
          {"successRate", number(s.success_rate)}, {"p50Ms", number(s.p50_ms)},
          {"p99Ms", number(s.p99_ms)},   {"rps", number(s.rps)},
          {"windowMs", s.window.count()}};
}

Result<VersionStats> version_stats_from_json(const json& j) {
  try {
    auto number = [&](const char* name) {
      const json& v = field(j, name, "");
      if (v.is_null()) return std::nan("");
      if (!v.is_number()) throw std::invalid_argument(fmt::format("{}: must be a number", name));
      return v.get<double>();
    };
    VersionStats s;
    s.requests = static_cast<uint64_t>(integer(j, "requests", ""));
    s.errors_5xx = static_cast<uint64_t>(integer(j, "errors5xx", ""));
    s.success_rate = number("successRate");
    s.p50_ms = number("p50Ms");
    s.p99_ms = number("p99Ms");
    s.rps = number("rps");
    s.window = Duration(integer(j, "windowMs", ""));
    return s;
  } catch (const std::exception& e) {
    return invalid_argument(fmt::format("router stats: {}", e.what()));
  }
}

}  // namespace sluice::traffic
