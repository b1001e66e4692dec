// The built-in router's compiled, immutable routing table and the pure per-request choice.
//
// A CompiledTable is built by the controller thread in BuiltinRouter::apply() and published to
// the data path through an atomic shared_ptr swap; the I/O threads only read it. EndpointState
// objects are shared between successive tables (same instance, host and port), so outstanding
// counts and the drained flag survive a weight change.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/fields.hpp>

#include "base/status.h"
#include "traffic/router.h"
#include "traffic/version_stats.h"

namespace sluice::traffic {

struct EndpointState {
  EndpointState(Endpoint e, boost::asio::ip::tcp::endpoint a)
      : endpoint(std::move(e)), address(a) {}
  const Endpoint endpoint;
  const boost::asio::ip::tcp::endpoint address;  // parsed once at apply()
  std::atomic<int> outstanding{0};               // requests in flight to this endpoint
  std::atomic<bool> drained{false};              // no new requests; pooled connections are dropped
};

struct CompiledRevision {
  int64_t revision = 0;
  std::string version;
  std::string role;
  int weight_percent = 0;
  std::vector<std::shared_ptr<EndpointState>> endpoints;  // ready and not drained
  std::shared_ptr<RevisionStats> stats;
};

struct CompiledHeaderMatch {
  std::string header_name;
  enum class Kind { kExact, kPrefix, kRegex } kind = Kind::kExact;
  std::string value;
  std::optional<std::regex> regex;  // kRegex: whole-value match (std::regex_match, ECMAScript)
};

struct CompiledHeaderRoute {
  std::string name;
  std::vector<CompiledHeaderMatch> match;  // all must match
  int revision_index = -1;                 // into CompiledTable::revisions
};

struct CompiledTable {
  std::vector<CompiledRevision> revisions;
  std::vector<CompiledHeaderRoute> header_routes;
  int stable_index = -1;  // role "stable"; the fallback
  int total_weight = 0;
};

// Compiles the routes of one front door. `endpoint_for` returns the shared EndpointState for an
// endpoint (or null to leave it out, e.g. drained); `stats_for` the stats of a revision. Fails on a
// header route with an invalid regex or an unknown revision.
Result<std::shared_ptr<const CompiledTable>> compile_table(
    const std::vector<RevisionRoute>& revisions, const std::vector<HeaderRoute>& header_routes,
    const std::function<std::shared_ptr<EndpointState>(const Endpoint&)>& endpoint_for,
    const std::function<std::shared_ptr<RevisionStats>(const RevisionRoute&)>& stats_for);

struct Choice {
  const CompiledRevision* revision = nullptr;
  const std::shared_ptr<EndpointState>* endpoint = nullptr;  // points into revision->endpoints
};

// The routing decision for one request: the first matching header route, else a weighted choice
// (`weight_roll` uniform over uint32_t); a revision without a usable endpoint falls back to stable;
// among endpoints the least outstanding wins, ties broken from `tie_roll`. Empty when nothing is
// ready (answer 503).
std::optional<Choice> choose(const CompiledTable& table, const boost::beast::http::fields& headers,
                             uint32_t weight_roll, uint32_t tie_roll);

}  // namespace sluice::traffic
