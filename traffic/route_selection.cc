// GCC 12 reports a false -Wmaybe-uninitialized inside libstdc++'s <regex> compiler
// (GCC bug 105562); it concerns library internals, not this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "traffic/route_selection.h"

#include <fmt/format.h>

namespace sluice::traffic {
namespace {

bool header_matches(const CompiledHeaderMatch& m, const boost::beast::http::fields& headers) {
  auto it = headers.find(m.header_name);
  if (it == headers.end()) return false;
  const std::string_view value(it->value().data(), it->value().size());
  switch (m.kind) {
    case CompiledHeaderMatch::Kind::kExact:
      return value == m.value;
    case CompiledHeaderMatch::Kind::kPrefix:
      return value.substr(0, m.value.size()) == m.value;
    case CompiledHeaderMatch::Kind::kRegex:
      return std::regex_match(value.begin(), value.end(), *m.regex);
  }
  return false;
}

const std::shared_ptr<EndpointState>* least_outstanding(const CompiledRevision& rev,
                                                        uint32_t tie_roll) {
  const size_t n = rev.endpoints.size();
  const std::shared_ptr<EndpointState>* best = nullptr;
  int best_outstanding = 0;
  for (size_t k = 0; k < n; ++k) {
    const std::shared_ptr<EndpointState>* e = &rev.endpoints[(tie_roll + k) % n];
    if ((*e)->drained.load(std::memory_order_relaxed)) continue;
    const int o = (*e)->outstanding.load(std::memory_order_relaxed);
    if (best == nullptr || o < best_outstanding) {
      best = e;
      best_outstanding = o;
    }
  }
  return best;
}

}  // namespace

Result<std::shared_ptr<const CompiledTable>> compile_table(
    const std::vector<RevisionRoute>& revisions, const std::vector<HeaderRoute>& header_routes,
    const std::function<std::shared_ptr<EndpointState>(const Endpoint&)>& endpoint_for,
    const std::function<std::shared_ptr<RevisionStats>(const RevisionRoute&)>& stats_for) {
  auto table = std::make_shared<CompiledTable>();
  for (const RevisionRoute& r : revisions) {
    if (r.weight_percent < 0 || r.weight_percent > 100) {
      return invalid_argument(
          fmt::format("revision {}: weight {} is not within 0..100", r.revision, r.weight_percent));
    }
    CompiledRevision c;
    c.revision = r.revision;
    c.version = r.version;
    c.role = r.role;
    c.weight_percent = r.weight_percent;
    c.stats = stats_for(r);
    for (const Endpoint& e : r.ready_endpoints) {
      if (auto state = endpoint_for(e)) c.endpoints.push_back(std::move(state));
    }
    if (r.role == "stable" && table->stable_index < 0) {
      table->stable_index = static_cast<int>(table->revisions.size());
    }
    table->total_weight += r.weight_percent;
    table->revisions.push_back(std::move(c));
  }
  for (const HeaderRoute& h : header_routes) {
    if (h.match.empty()) continue;  // an empty match list removes the route
    CompiledHeaderRoute route;
    route.name = h.name;
    for (size_t i = 0; i < table->revisions.size(); ++i) {
      if (table->revisions[i].revision == h.revision) route.revision_index = static_cast<int>(i);
    }
    if (route.revision_index < 0) {
      return invalid_argument(
          fmt::format("header route {}: revision {} is not in the table", h.name, h.revision));
    }
    for (const manifests::HeaderRouteMatch& m : h.match) {
      CompiledHeaderMatch cm;
      cm.header_name = m.header_name;
      if (m.header_value.exact) {
        cm.value = *m.header_value.exact;
      } else if (m.header_value.prefix) {
        cm.kind = CompiledHeaderMatch::Kind::kPrefix;
        cm.value = *m.header_value.prefix;
      } else if (m.header_value.regex) {
        cm.kind = CompiledHeaderMatch::Kind::kRegex;
        cm.value = *m.header_value.regex;
        try {
          cm.regex.emplace(cm.value, std::regex::ECMAScript | std::regex::optimize);
        } catch (const std::regex_error& e) {
          return invalid_argument(fmt::format("header route {}: header {}: bad regex \"{}\": {}",
                                              h.name, m.header_name, cm.value, e.what()));
        }
      } else {
        return invalid_argument(
            fmt::format("header route {}: header {}: one of exact, prefix, regex is required",
                        h.name, m.header_name));
      }
      route.match.push_back(std::move(cm));
    }
    table->header_routes.push_back(std::move(route));
  }
  return std::shared_ptr<const CompiledTable>(std::move(table));
}

std::optional<Choice> choose(const CompiledTable& table, const boost::beast::http::fields& headers,
                             uint32_t weight_roll, uint32_t tie_roll) {
  const CompiledRevision* chosen = nullptr;
  for (const CompiledHeaderRoute& route : table.header_routes) {
    bool all = true;
    for (const CompiledHeaderMatch& m : route.match) {
      if (!header_matches(m, headers)) {
        all = false;
        break;
      }
    }
    if (all) {
      chosen = &table.revisions[static_cast<size_t>(route.revision_index)];
      break;
    }
  }
  if (chosen == nullptr && table.total_weight > 0) {
    // Scale the roll to the weight sum, so a table whose weights do not add up to 100 (the
    // preview door, a transient table) still splits proportionally.
    const uint32_t point = static_cast<uint32_t>(
        (static_cast<uint64_t>(weight_roll) * static_cast<uint64_t>(table.total_weight)) >> 32);
    uint32_t acc = 0;
    for (const CompiledRevision& r : table.revisions) {
      acc += static_cast<uint32_t>(r.weight_percent);
      if (point < acc) {
        chosen = &r;
        break;
      }
    }
  }
  if (chosen != nullptr) {
    if (const auto* e = least_outstanding(*chosen, tie_roll)) return Choice{chosen, e};
  }
  if (table.stable_index >= 0) {
    const CompiledRevision& stable = table.revisions[static_cast<size_t>(table.stable_index)];
    if (const auto* e = least_outstanding(stable, tie_roll)) return Choice{&stable, e};
  }
  return std::nullopt;
}

}  // namespace sluice::traffic
