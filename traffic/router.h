// How traffic is split between the revisions of a Rollout. The default is the built-in router
// (an HTTP reverse proxy inside Sluice); HAProxy is driven through its runtime API.
//
// The controller is level-based: on every reconcile it hands the router the whole desired table
// for a Rollout. apply() must be idempotent and cheap when nothing changed. A Status error means
// the table was NOT applied (the controller does not advance a step whose weight failed).
//
// Threading: apply/remove/drain_endpoint/stats are called on the controller strand and must not
// block for long (HAProxy's socket round trip is bounded by a short timeout). The data path runs
// on the router's own threads and reads the table through an atomic swap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "manifests/types.h"

namespace sluice::traffic {

struct Endpoint {
  std::string instance_id;
  std::string host = "127.0.0.1";
  int port = 0;
  bool operator==(const Endpoint&) const = default;
};

struct RevisionRoute {
  int64_t revision = 0;
  std::string version;
  std::string role;                       // "stable" | "canary" | "preview"
  int weight_percent = 0;                 // weights of the main front door sum to 100
  std::vector<Endpoint> ready_endpoints;  // only ready instances
  bool operator==(const RevisionRoute&) const = default;
};

struct HeaderRoute {
  std::string name;
  std::vector<manifests::HeaderRouteMatch> match;
  int64_t revision = 0;  // where matching requests go (the canary)
  bool operator==(const HeaderRoute&) const = default;
};

// The desired routing for one Rollout.
struct RouteTable {
  std::string rollout;
  std::string listen;                       // spec.service.listen ("" = no front door)
  std::string preview_listen;               // blue-green preview front door ("" = none)
  std::vector<RevisionRoute> revisions;     // main front door weights
  std::optional<int64_t> preview_revision;  // revision served by the preview front door
  std::vector<HeaderRoute> header_routes;
  std::optional<manifests::HaproxyRouting> haproxy;  // route through HAProxy instead
  bool operator==(const RouteTable&) const = default;
};

struct VersionStats {
  uint64_t requests = 0;
  uint64_t errors_5xx = 0;
  double success_rate = 1.0;  // (requests - 5xx) / requests; NaN when requests == 0
  double p50_ms = 0;
  double p99_ms = 0;
  double rps = 0;
  Duration window{0};
};

// Series a router can report for the statistical judge (analysis MetricsSource::samples()).
enum class SampleKind {
  kRequestDurationMs,     // one value per request: its duration in milliseconds
  kSuccessRatePerSecond,  // one value per second with requests: (requests - 5xx) / requests
  kRequestsPerSecond,     // one value per second: requests completed in it (0 included)
};

class Router {
 public:
  virtual ~Router() = default;

  virtual Status apply(const RouteTable& table) = 0;

  // Removes the Rollout's front doors (after in-flight requests finish).
  virtual void remove(std::string_view rollout) = 0;

  // Immediately stops sending new requests to an endpoint of the Rollout (called before an
  // instance is stopped). In-flight requests finish.
  virtual void drain_endpoint(std::string_view rollout, const Endpoint& endpoint) = 0;

  // Per-revision request statistics over the trailing window. The built-in router answers for
  // every revision it routes, with requests == 0 (success rate and percentiles NaN) when none
  // came in the window; nullopt means nothing is known of the revision (not routed, or the
  // router could not be asked; see each implementation).
  virtual std::optional<VersionStats> stats(std::string_view rollout, int64_t revision,
                                            Duration window) const = 0;

  // Observations of `kind` for one revision over the trailing window, oldest first; empty when
  // the router keeps none (see each implementation). Same threading as stats().
  virtual std::vector<double> samples(std::string_view rollout, int64_t revision, SampleKind kind,
                                      Duration window) const = 0;
};

}  // namespace sluice::traffic
