// Routes a Rollout through a running HAProxy, driven over its runtime API (RouteTable::haproxy:
// {runtime_api socket path, backend}). See docs/ARCHITECTURE.md (traffic) for the haproxy.cfg
// the user writes and examples/haproxy/haproxy.cfg.
//
// Sluice owns the servers of the backend whose names follow `r<revision>-<instance>` (instance
// id with characters outside [A-Za-z0-9_.-] replaced by '_'); other servers are left alone.
// apply() reads `show servers state <backend>` and sends only the differences:
//   add server b/s 127.0.0.1:port weight W pool-purge-delay 5s pool-max-conn -1
//     (+ set server b/s state ready; the pool settings: see kHaproxyDynamicServerPool)
//   set server b/s addr A port P, set weight b/s W, set server b/s state ready
//   set server b/s state maint, del server b/s   (endpoints that left the table)
// Every answer is checked; an unexpected one fails apply() with a Status naming the command and
// the answer (the controller then does not advance the step). `del server` may be refused while
// HAProxy still holds connections to the server: it stays in maint (no traffic) and is deleted by
// a later apply().
//
// Weights: HAProxy weighs servers, not revisions. A revision's percent is spread over its ready
// servers; per-server weights are scaled so that the largest share is 256 (HAProxy's maximum),
// so the split between revisions is exact up to rounding. The percent of a revision without ready
// servers is added to the stable revision (the same fallback as the built-in router).
//
// Header routes (setHeaderRoute), also without reloads. haproxy.cfg declares, once:
//   - a map file whose name ends in `<backend>-header-routes.map` (an empty file), used as
//       http-request set-var(txn.sluice_backend) req.hdrs,map_reg(<that file>)
//       use_backend %[var(txn.sluice_backend)] if { var(txn.sluice_backend) -m found }
//     in the frontend before `default_backend <backend>`;
//   - an empty backend `<backend>-canary` (same balance rules as <backend>).
// Sluice finds the map with `show map`, keeps the servers of the route's revision in
// <backend>-canary (same names, equal weights), and writes one map entry per route: a PCRE over
// the request's header block (req.hdrs) that matches when all of the route's header matches hold
// (haproxy_header_route_regex), with the value `<backend>-canary`. The map is replaced whole with
// `prepare map` / `add map @ver` / `commit map @ver`, so a request sees the old or the new routes.
// Order: servers first, then the map entry when a route starts; the map first, then the servers
// when it ends. A route whose revision has no ready server gets no entry (its requests follow the
// weights, hence stable: the built-in router's fallback). Without header routes nothing of this
// is needed; with one and no such map or backend, apply() fails with FailedPrecondition naming
// what haproxy.cfg lacks.
//
// stats(): `show stat` server rows of <backend> and <backend>-canary summed per revision; request
// and 5xx counts are deltas between the samples taken by successive stats() calls (the first call
// reports HAProxy's totals with window 0). HAProxy only exposes an average over the last 1024
// requests (ttime), which is reported as both p50_ms and p99_ms.
//
// samples(): always empty. HAProxy keeps no per-request durations (only that 1024-request average)
// and its counters are read only when stats() is called, at the analysis interval, so there is no
// per-second series to give; the judge reports NoData for a Rollout routed through HAProxy. Use
// the prometheus provider against HAProxy's exporter for such comparisons.
//
// Threading: every method blocks on socket round trips bounded by Options::timeout per command;
// call from the controller thread. Internal state is guarded by a mutex.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "traffic/haproxy_runtime_api.h"
#include "traffic/router.h"

namespace sluice::traffic {

std::string haproxy_server_name(int64_t revision, std::string_view instance_id);
// The revision of a server named by haproxy_server_name(); nullopt for other servers.
std::optional<int64_t> haproxy_server_revision(std::string_view server_name);

// The backend that serves header-routed requests and the map file name suffix (see above).
std::string haproxy_canary_backend(const std::string& backend);
std::string haproxy_header_map_suffix(const std::string& backend);

// A PCRE over HAProxy's req.hdrs ("Name: value\r\n" lines) that matches when every header match
// holds: the header (name case-insensitive) is present and its value, without surrounding blanks,
// equals `exact`, starts with `prefix`, or wholly matches `regex` (a PCRE here, an ECMAScript
// regex in the built-in router: keep to their common subset). Literals are escaped.
std::string haproxy_header_route_regex(const std::vector<manifests::HeaderRouteMatch>& match);

// Appended to every `add server`. HAProxy 2.6 gives a server added at run time neither the
// defaults of a `server` line nor `default-server` settings: its idle-connection pool has
// pool-purge-delay 0 and pool-max-conn 0, so it keeps no idle backend connection and every request
// opens a new one (`show stat`: connect == req_tot, reuse 0; less than half the throughput of a
// static server). These are the values a static server gets (`show servers conn` then shows the
// same purge_delay 5000 and idle_lim -1 for both), so connections are reused as with a `server`
// line.
inline constexpr std::string_view kHaproxyDynamicServerPool =
    "pool-purge-delay 5s pool-max-conn -1";

struct HaproxyDesiredServer {
  std::string name;
  std::string addr;
  int port = 0;
  int weight = 0;  // 0..256
};

// The servers a table asks for (endpoints whose key is in `drained` are left out).
std::vector<HaproxyDesiredServer> haproxy_desired_servers(const RouteTable& table,
                                                          const std::set<std::string>& drained);

struct HaproxyCommand {
  std::string text;
  enum class Expect { kEmpty, kNewServer, kAddrChanged, kDeleted } expect = Expect::kEmpty;
  bool may_fail = false;  // del server refused while connections remain
};

// The commands that turn `current` into `desired` for `backend` (pure; in execution order).
std::vector<HaproxyCommand> haproxy_plan(const std::string& backend,
                                         const std::vector<HaproxyServerState>& current,
                                         const std::vector<HaproxyDesiredServer>& desired);

class HaproxyRouter final : public Router {
 public:
  struct Options {
    Duration timeout{1'000};  // per runtime-API command
  };
  explicit HaproxyRouter(const Clock& clock) : HaproxyRouter(clock, Options{}) {}
  HaproxyRouter(const Clock& clock, Options options) : clock_(clock), options_(options) {}

  Status apply(const RouteTable& table) override;
  void remove(std::string_view rollout) override;
  void drain_endpoint(std::string_view rollout, const Endpoint& endpoint) override;
  std::optional<VersionStats> stats(std::string_view rollout, int64_t revision,
                                    Duration window) const override;
  std::vector<double> samples(std::string_view, int64_t, SampleKind, Duration) const override {
    return {};
  }

 private:
  struct Sample {
    TimePoint at;
    std::map<int64_t, std::pair<uint64_t, uint64_t>> requests_and_5xx;  // per revision
  };
  struct RolloutState {
    RouteTable last;
    std::set<std::string> drained;
    mutable std::vector<Sample> samples;  // oldest first, trimmed to 10 minutes
  };

  Status run(const std::string& socket, const HaproxyCommand& command) const;
  // Brings <backend>-canary and the header-route map in line with the table (see above).
  Status apply_header_routes(const RouteTable& table, const std::set<std::string>& drained) const;
  // Sets the servers of `backend` to `desired` (one `show servers state` and the plan).
  Status sync_servers(const std::string& socket, const std::string& backend,
                      const std::vector<HaproxyDesiredServer>& desired) const;
  // Replaces the map's entries when they differ (prepare / add / commit).
  Status sync_map(const std::string& socket, const std::string& map_file,
                  const std::vector<std::pair<std::string, std::string>>& desired) const;
  // The map file named for `backend`, if HAProxy loaded one.
  Result<std::optional<std::string>> find_header_map(const std::string& socket,
                                                     const std::string& backend) const;

  const Clock& clock_;
  const Options options_;
  mutable std::mutex mu_;
  std::map<std::string, RolloutState, std::less<>> rollouts_;
};

}  // namespace sluice::traffic
