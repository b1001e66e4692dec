#include "traffic/builtin_router.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "traffic/front_door.h"
#include "traffic/route_selection.h"
#include "traffic/version_stats.h"

namespace sluice::traffic {

namespace net = boost::asio;

namespace {

std::string endpoint_key(const Endpoint& e) {
  return fmt::format("{}@{}:{}", e.instance_id, e.host, e.port);
}

std::string prometheus_escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Stats are kept for this many most recent revisions of a Rollout.
constexpr size_t kStatsRevisionsKept = 16;

}  // namespace

struct BuiltinRouter::Impl {
  struct RolloutState {
    RouteTable last;
    bool applied = false;
    std::set<std::string> drained;  // endpoint keys drained until a table omits them
    std::map<std::string, std::shared_ptr<EndpointState>> endpoints;
    std::map<int64_t, std::shared_ptr<RevisionStats>> stats;
    std::map<int64_t, std::string> versions;
    std::shared_ptr<FrontDoor> main;
    std::shared_ptr<FrontDoor> preview;
  };

  Impl(const Clock& c, ProxyOptions o) : clock(c), options(o) {
    for (int i = 0; i < std::max(1, options.threads); ++i) {
      contexts.push_back(std::make_unique<net::io_context>(1));
      context_ptrs.push_back(contexts.back().get());
      work.push_back(net::make_work_guard(*contexts.back()));
    }
    for (auto& ctx : contexts) {
      threads.emplace_back([ioc = ctx.get()] { ioc->run(); });
    }
  }

  ~Impl() {
    {
      std::lock_guard lock(mu);
      for (auto& [name, st] : rollouts) {
        if (st.main) st.main->close();
        if (st.preview) st.preview->close();
      }
    }
    work.clear();
    for (auto& ctx : contexts) ctx->stop();
    for (auto& t : threads) t.join();
    rollouts.clear();
    // Sessions left in a context hold their door, whose acceptor belongs to contexts[0]: destroy
    // the others first, so every door dies while its acceptor's context still exists.
    while (!contexts.empty()) contexts.pop_back();
  }

  Status apply_locked(RolloutState& st, const RouteTable& table);
  Status open_or_publish(std::shared_ptr<FrontDoor>& door, const std::string& listen,
                         std::shared_ptr<const CompiledTable> compiled,
                         std::shared_ptr<FrontDoor>& staged);
  // The stats of a revision (shared: they outlive a concurrent remove()), or null.
  std::shared_ptr<RevisionStats> stats_of(std::string_view rollout, int64_t revision) const;

  const Clock& clock;
  const ProxyOptions options;
  // One io_context per I/O thread (ProxyOptions::threads): a session lives on one of them and
  // needs no strand. Doors accept on contexts[0].
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::io_context*> context_ptrs;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;

  mutable std::mutex mu;  // guards rollouts; never taken on the data path
  std::map<std::string, RolloutState, std::less<>> rollouts;
};

Status BuiltinRouter::Impl::apply_locked(RolloutState& st, const RouteTable& table) {
  if (table.haproxy) {
    return invalid_argument(fmt::format(
        "rollout {}: table routes through HAProxy, not the built-in router", table.rollout));
  }
  // Endpoints of the new table; a drained one stays out until a table arrives without it.
  std::set<std::string> present;
  for (const auto& r : table.revisions) {
    for (const auto& e : r.ready_endpoints) present.insert(endpoint_key(e));
  }
  std::set<std::string> drained;
  for (const auto& k : st.drained) {
    if (present.count(k)) drained.insert(k);
  }

  std::map<std::string, std::shared_ptr<EndpointState>> endpoints;
  Status bad_endpoint;
  auto endpoint_for = [&](const Endpoint& e) -> std::shared_ptr<EndpointState> {
    const std::string key = endpoint_key(e);
    if (drained.count(key)) return nullptr;
    if (auto it = endpoints.find(key); it != endpoints.end()) return it->second;
    if (auto it = st.endpoints.find(key); it != st.endpoints.end()) {
      endpoints[key] = it->second;
      return it->second;
    }
    auto address = parse_listen_address(fmt::format("{}:{}", e.host, e.port));
    if (!address || e.port <= 0) {
      bad_endpoint = invalid_argument(fmt::format("endpoint {} of rollout {}: bad address {}:{}",
                                                  e.instance_id, table.rollout, e.host, e.port));
      return nullptr;
    }
    auto state = std::make_shared<EndpointState>(e, *address);
    endpoints[key] = state;
    return state;
  };
  std::map<int64_t, std::shared_ptr<RevisionStats>> stats = st.stats;
  std::map<int64_t, std::string> versions = st.versions;
  auto stats_for = [&](const RevisionRoute& r) {
    versions[r.revision] = r.version;
    auto& s = stats[r.revision];
    if (!s) s = std::make_shared<RevisionStats>(clock);
    return s;
  };

  auto main_table = compile_table(table.revisions, table.header_routes, endpoint_for, stats_for);
  if (!main_table) return main_table.status();
  std::shared_ptr<const CompiledTable> preview_table;
  if (!table.preview_listen.empty()) {
    std::vector<RevisionRoute> preview;
    for (const auto& r : table.revisions) {
      if (table.preview_revision && r.revision == *table.preview_revision) {
        preview.push_back(r);
        preview.back().weight_percent = 100;
        preview.back().role = "preview";  // never a fallback: an unready preview answers 503
      }
    }
    auto compiled = compile_table(preview, {}, endpoint_for, stats_for);
    if (!compiled) return compiled.status();
    preview_table = *compiled;
  }
  if (!bad_endpoint.is_ok()) return bad_endpoint;

  // Bind new doors first, so a bind failure leaves the previous state untouched.
  std::shared_ptr<FrontDoor> new_main, new_preview;
  if (Status s = open_or_publish(st.main, table.listen, *main_table, new_main); !s) return s;
  if (Status s = open_or_publish(st.preview, table.preview_listen, preview_table, new_preview);
      !s) {
    if (new_main) new_main->close();
    return s;
  }
  auto swap_door = [](std::shared_ptr<FrontDoor>& door, const std::string& listen,
                      std::shared_ptr<FrontDoor>& fresh,
                      const std::shared_ptr<const CompiledTable>& compiled) {
    if (fresh) {
      if (door) door->close();
      door = std::move(fresh);
    } else if (listen.empty()) {
      if (door) door->close();
      door.reset();
    } else if (door) {
      door->publish(compiled);
    }
  };
  swap_door(st.main, table.listen, new_main, *main_table);
  swap_door(st.preview, table.preview_listen, new_preview, preview_table);

  // Endpoints that left the table: in-flight requests finish, idle connections are dropped.
  for (auto& [key, state] : st.endpoints) {
    if (!endpoints.count(key)) state->drained.store(true, std::memory_order_relaxed);
  }
  st.endpoints = std::move(endpoints);
  while (stats.size() > kStatsRevisionsKept) {
    versions.erase(stats.begin()->first);
    stats.erase(stats.begin());
  }
  st.stats = std::move(stats);
  st.versions = std::move(versions);
  st.drained = std::move(drained);
  st.last = table;
  st.applied = true;
  return Status::ok();
}

Status BuiltinRouter::Impl::open_or_publish(std::shared_ptr<FrontDoor>& door,
                                            const std::string& listen,
                                            std::shared_ptr<const CompiledTable> compiled,
                                            std::shared_ptr<FrontDoor>& staged) {
  if (listen.empty() || (door && door->listen() == listen)) return Status::ok();
  auto opened = FrontDoor::open(context_ptrs, listen, options, std::move(compiled));
  if (!opened) return opened.status();
  staged = *opened;
  return Status::ok();
}

BuiltinRouter::BuiltinRouter(const Clock& clock, ProxyOptions options)
    : impl_(std::make_unique<Impl>(clock, options)) {}

BuiltinRouter::~BuiltinRouter() = default;

Status BuiltinRouter::apply(const RouteTable& table) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->rollouts.find(table.rollout);
  if (it != impl_->rollouts.end() && it->second.applied && it->second.last == table) {
    return Status::ok();  // level-triggered reconcile with nothing new: no work
  }
  Impl::RolloutState fresh;
  Impl::RolloutState& st = it != impl_->rollouts.end() ? it->second : fresh;
  Status s = impl_->apply_locked(st, table);
  if (s && it == impl_->rollouts.end()) impl_->rollouts.emplace(table.rollout, std::move(fresh));
  return s;
}

void BuiltinRouter::remove(std::string_view rollout) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->rollouts.find(rollout);
  if (it == impl_->rollouts.end()) return;
  if (it->second.main) it->second.main->close();
  if (it->second.preview) it->second.preview->close();
  impl_->rollouts.erase(it);
}

void BuiltinRouter::drain_endpoint(std::string_view rollout, const Endpoint& endpoint) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->rollouts.find(rollout);
  if (it == impl_->rollouts.end()) return;
  Impl::RolloutState& st = it->second;
  const std::string key = endpoint_key(endpoint);
  // The flag takes effect for the very next routing decision; the re-applied table then drops
  // the endpoint from the candidates altogether.
  if (auto e = st.endpoints.find(key); e != st.endpoints.end()) {
    e->second->drained.store(true, std::memory_order_relaxed);
  }
  st.drained.insert(key);
  if (st.applied) {
    const RouteTable table = st.last;
    st.applied = false;
    (void)impl_->apply_locked(st, table);  // same table as before: cannot newly fail
  }
}

std::shared_ptr<RevisionStats> BuiltinRouter::Impl::stats_of(std::string_view rollout,
                                                             int64_t revision) const {
  std::lock_guard lock(mu);
  auto it = rollouts.find(rollout);
  if (it == rollouts.end()) return nullptr;
  auto r = it->second.stats.find(revision);
  if (r == it->second.stats.end()) return nullptr;
  return r->second;
}

std::optional<VersionStats> BuiltinRouter::stats(std::string_view rollout, int64_t revision,
                                                 Duration window) const {
  auto s = impl_->stats_of(rollout, revision);
  if (!s) return std::nullopt;  // not routed: nothing is known of it
  if (auto seen = s->window(window)) return seen;
  // Routed, but no request in the window: that is a measurement (0 requests, success rate NaN,
  // as 0/0 is), not a missing one. A canary without traffic (a consumer, a quiet hour) must not
  // count as an analysis error: `isNaN(result) || result >= 0.95` is how a template allows it.
  VersionStats idle;
  idle.success_rate = std::nan("");
  idle.p50_ms = std::nan("");
  idle.p99_ms = std::nan("");
  idle.window = Duration(std::max<int64_t>(1, (window.count() + 999) / 1000) * 1000);
  return idle;
}

std::vector<double> BuiltinRouter::samples(std::string_view rollout, int64_t revision,
                                           SampleKind kind, Duration window) const {
  auto s = impl_->stats_of(rollout, revision);
  if (!s) return {};
  return s->samples(kind, window);  // outside the lock: reading the counters takes a while
}

std::optional<uint16_t> BuiltinRouter::listen_port(std::string_view rollout, bool preview) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->rollouts.find(rollout);
  if (it == impl_->rollouts.end()) return std::nullopt;
  const auto& door = preview ? it->second.preview : it->second.main;
  if (!door) return std::nullopt;
  return door->port();
}

std::string BuiltinRouter::metrics_text() const {
  struct Row {
    std::string labels;
    RevisionStats::Totals totals;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [name, st] : impl_->rollouts) {
      for (const auto& [revision, stats] : st.stats) {
        auto v = st.versions.find(revision);
        rows.push_back(
            {fmt::format("rollout=\"{}\",revision=\"{}\",version=\"{}\"", prometheus_escape(name),
                         revision, prometheus_escape(v == st.versions.end() ? "" : v->second)),
             stats->totals()});
      }
    }
  }
  std::string out;
  out +=
      "# HELP sluice_router_requests_total Requests answered by the built-in router, by status "
      "class.\n# TYPE sluice_router_requests_total counter\n";
  for (const Row& row : rows) {
    for (int c = 2; c <= 5; ++c) {
      out += fmt::format("sluice_router_requests_total{{{},code=\"{}xx\"}} {}\n", row.labels, c,
                         row.totals.by_class[static_cast<size_t>(c - 1)]);
    }
  }
  out +=
      "# HELP sluice_router_request_duration_seconds Time from the complete client request to "
      "the complete upstream response.\n"
      "# TYPE sluice_router_request_duration_seconds histogram\n";
  for (const Row& row : rows) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b < row.totals.duration_buckets.size(); ++b) {
      cumulative += row.totals.duration_buckets[b];
      const std::string le = b < kDurationBucketsSeconds.size()
                                 ? fmt::format("{}", kDurationBucketsSeconds[b])
                                 : "+Inf";
      out += fmt::format("sluice_router_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n",
                         row.labels, le, cumulative);
    }
    out += fmt::format("sluice_router_request_duration_seconds_sum{{{}}} {}\n", row.labels,
                       row.totals.duration_sum_seconds);
    out += fmt::format("sluice_router_request_duration_seconds_count{{{}}} {}\n", row.labels,
                       cumulative);
  }
  return out;
}

}  // namespace sluice::traffic
