// The built-in router: an HTTP/1.1 reverse proxy inside Sluice, one front door per Rollout
// (RouteTable::listen) plus an optional blue-green preview door (preview_listen).
//
// Routing per request: the first matching header route, else a weighted choice between
// revisions; then the least-outstanding ready endpoint of that revision. A revision without a
// ready endpoint falls back to the stable one; nothing ready -> 503. Proxied responses carry
// X-Sluice-Version (ProxyOptions::version_header).
//
// Threading: the proxy runs on its own io_context with ProxyOptions::threads threads, started
// by the constructor and joined by the destructor. apply/remove/drain_endpoint/stats/
// metrics_text/listen_port may be called from any other thread (normally the controller strand);
// they serialise on an internal mutex that the data path never takes. apply() compiles an
// immutable table and swaps it in atomically: the next request sees it, requests in flight
// finish on the table they started with, and no client connection is reset.
//
// Stats: per (rollout, revision), lock-free counters recorded by the I/O threads; see
// version_stats.h. They live as long as the Rollout (remove() drops them).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "traffic/proxy_options.h"
#include "traffic/router.h"

namespace sluice::traffic {

class BuiltinRouter final : public Router {
 public:
  // `clock` (for the stats windows) must outlive the router.
  explicit BuiltinRouter(const Clock& clock, ProxyOptions options = {});
  ~BuiltinRouter() override;
  BuiltinRouter(const BuiltinRouter&) = delete;
  BuiltinRouter& operator=(const BuiltinRouter&) = delete;

  // Errors (nothing applied): bad listen address, bind failure, bad header-route regex, a
  // header route naming a revision not in the table, RouteTable::haproxy set.
  Status apply(const RouteTable& table) override;
  // Stops accepting at once; open client connections get Connection: close on their next
  // response and idle ones end at ProxyOptions::client_timeout. Drops the Rollout's stats.
  void remove(std::string_view rollout) override;
  void drain_endpoint(std::string_view rollout, const Endpoint& endpoint) override;
  std::optional<VersionStats> stats(std::string_view rollout, int64_t revision,
                                    Duration window) const override;
  // From the revision's RevisionStats (version_stats.h): the last 1024 request durations, and
  // per-second counts and success ratios of completed seconds, over at most 300 s.
  std::vector<double> samples(std::string_view rollout, int64_t revision, SampleKind kind,
                              Duration window) const override;

  // The bound port of a Rollout's front door (useful with listen port 0).
  std::optional<uint16_t> listen_port(std::string_view rollout, bool preview = false) const;

  // Prometheus text exposition (format 0.0.4) of every Rollout's counters:
  //   sluice_router_requests_total{rollout,revision,version,code}  code = status class "2xx"..
  //   sluice_router_request_duration_seconds{rollout,revision,version,le} (histogram)
  // Duration is from the complete client request to the complete upstream response.
  std::string metrics_text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::traffic
