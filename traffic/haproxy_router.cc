#include "traffic/haproxy_router.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace sluice::traffic {
namespace {

std::string endpoint_key(const Endpoint& e) {
  return fmt::format("{}@{}:{}", e.instance_id, e.host, e.port);
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

uint64_t to_u64(const std::map<std::string, std::string>& row, const std::string& key) {
  auto it = row.find(key);
  if (it == row.end() || it->second.empty()) return 0;
  uint64_t v = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9') break;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::string haproxy_server_name(int64_t revision, std::string_view instance_id) {
  std::string name = fmt::format("r{}-", revision);
  for (char c : instance_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    name += ok ? c : '_';
  }
  return name;
}

std::optional<int64_t> haproxy_server_revision(std::string_view name) {
  if (name.size() < 3 || name[0] != 'r') return std::nullopt;
  int64_t revision = 0;
  size_t i = 1;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
    if (revision > std::numeric_limits<int64_t>::max() / 10) return std::nullopt;
    revision = revision * 10 + (name[i] - '0');
  }
  if (i == 1 || i >= name.size() - 1 || name[i] != '-') return std::nullopt;
  return revision;
}

std::vector<HaproxyDesiredServer> haproxy_desired_servers(const RouteTable& table,
                                                          const std::set<std::string>& drained) {
  struct Rev {
    const RevisionRoute* route;
    std::vector<const Endpoint*> endpoints;
    int weight = 0;  // effective percent
  };
  std::vector<Rev> revs;
  int orphaned_weight = 0;  // weight of revisions without a ready server: goes to stable
  Rev* stable = nullptr;
  for (const RevisionRoute& r : table.revisions) {
    Rev rev{&r, {}, r.weight_percent};
    for (const Endpoint& e : r.ready_endpoints) {
      if (!drained.count(endpoint_key(e))) rev.endpoints.push_back(&e);
    }
    if (rev.endpoints.empty()) orphaned_weight += r.weight_percent;
    revs.push_back(std::move(rev));
  }
  for (Rev& rev : revs) {
    if (rev.route->role == "stable" && !rev.endpoints.empty() && stable == nullptr) stable = &rev;
  }
  if (stable != nullptr) stable->weight += orphaned_weight;
  double max_share = 0;
  for (const Rev& rev : revs) {
    if (!rev.endpoints.empty()) {
      max_share = std::max(
          max_share, static_cast<double>(rev.weight) / static_cast<double>(rev.endpoints.size()));
    }
  }
  std::vector<HaproxyDesiredServer> out;
  for (const Rev& rev : revs) {
    int weight = 0;
    if (rev.weight > 0 && max_share > 0) {
      const double share =
          static_cast<double>(rev.weight) / static_cast<double>(rev.endpoints.size());
      weight = std::clamp(static_cast<int>(std::lround(256.0 * share / max_share)), 1, 256);
    }
    for (const Endpoint* e : rev.endpoints) {
      out.push_back({haproxy_server_name(rev.route->revision, e->instance_id),
                     e->host == "localhost" ? "127.0.0.1" : e->host, e->port, weight});
    }
  }
  return out;
}

std::vector<HaproxyCommand> haproxy_plan(const std::string& backend,
                                         const std::vector<HaproxyServerState>& current,
                                         const std::vector<HaproxyDesiredServer>& desired) {
  using Expect = HaproxyCommand::Expect;
  std::vector<HaproxyCommand> plan;
  std::map<std::string_view, const HaproxyServerState*> by_name;
  for (const auto& s : current) by_name[s.name] = &s;
  std::set<std::string_view> wanted;
  for (const auto& d : desired) {
    wanted.insert(d.name);
    const std::string target = fmt::format("{}/{}", backend, d.name);
    auto it = by_name.find(d.name);
    if (it == by_name.end()) {
      plan.push_back(
          {fmt::format("add server {} {}:{} weight {}", target, d.addr, d.port, d.weight),
           Expect::kNewServer});
      plan.push_back({fmt::format("set server {} state ready", target), Expect::kEmpty});
      continue;
    }
    const HaproxyServerState& s = *it->second;
    if (s.addr != d.addr || s.port != d.port) {
      plan.push_back({fmt::format("set server {} addr {} port {}", target, d.addr, d.port),
                      Expect::kAddrChanged});
    }
    if (s.weight != d.weight) {
      plan.push_back({fmt::format("set weight {} {}", target, d.weight), Expect::kEmpty});
    }
    if (s.in_maintenance() || s.draining()) {
      plan.push_back({fmt::format("set server {} state ready", target), Expect::kEmpty});
    }
  }
  for (const auto& s : current) {
    if (wanted.count(s.name) || !haproxy_server_revision(s.name)) continue;
    const std::string target = fmt::format("{}/{}", backend, s.name);
    if (!s.in_maintenance()) {
      plan.push_back({fmt::format("set server {} state maint", target), Expect::kEmpty});
    }
    plan.push_back({fmt::format("del server {}", target), Expect::kDeleted, true});
  }
  return plan;
}

Status HaproxyRouter::run(const std::string& socket, const HaproxyCommand& command) const {
  auto answer = haproxy_command(socket, command.text, options_.timeout);
  if (!answer) return answer.status();
  const std::string a = trimmed(*answer);
  bool ok = false;
  switch (command.expect) {
    case HaproxyCommand::Expect::kEmpty:
      ok = a.empty();
      break;
    case HaproxyCommand::Expect::kNewServer:
      ok = a == "New server registered.";
      break;
    case HaproxyCommand::Expect::kAddrChanged:
      ok = starts_with(a, "IP changed from") || starts_with(a, "no need to change the addr");
      break;
    case HaproxyCommand::Expect::kDeleted:
      ok = a == "Server deleted.";
      break;
  }
  if (ok || command.may_fail) return Status::ok();
  return failed_precondition(
      fmt::format("haproxy runtime API {}: \"{}\" answered \"{}\"", socket, command.text, a));
}

Status HaproxyRouter::apply(const RouteTable& table) {
  if (!table.haproxy) {
    return invalid_argument(
        fmt::format("rollout {}: no haproxy routing in the table", table.rollout));
  }
  if (!table.header_routes.empty()) {
    return failed_precondition(fmt::format(
        "rollout {}: header routes are not supported with HAProxy traffic routing (route \"{}\")",
        table.rollout, table.header_routes.front().name));
  }
  std::lock_guard lock(mu_);
  RolloutState& st = rollouts_[table.rollout];
  const auto& h = *table.haproxy;
  std::set<std::string> present;
  for (const auto& r : table.revisions) {
    for (const auto& e : r.ready_endpoints) present.insert(endpoint_key(e));
  }
  std::set<std::string> drained;
  for (const auto& k : st.drained) {
    if (present.count(k)) drained.insert(k);
  }

  const std::string show = "show servers state " + h.backend;
  auto answer = haproxy_command(h.runtime_api, show, options_.timeout);
  if (!answer) return answer.status();
  auto current = parse_servers_state(*answer);
  if (!current) {
    return failed_precondition(fmt::format("haproxy runtime API {}: \"{}\": {}", h.runtime_api,
                                           show, current.status().message()));
  }
  for (const HaproxyCommand& c :
       haproxy_plan(h.backend, *current, haproxy_desired_servers(table, drained))) {
    if (Status s = run(h.runtime_api, c); !s) return s;
  }
  st.last = table;
  st.drained = std::move(drained);
  return Status::ok();
}

void HaproxyRouter::remove(std::string_view rollout) {
  std::lock_guard lock(mu_);
  auto it = rollouts_.find(rollout);
  if (it == rollouts_.end()) return;
  if (it->second.last.haproxy) {
    const auto& h = *it->second.last.haproxy;
    // Best effort: servers that keep connections stay in maint (no traffic).
    if (auto answer =
            haproxy_command(h.runtime_api, "show servers state " + h.backend, options_.timeout)) {
      if (auto current = parse_servers_state(*answer)) {
        for (const auto& c : haproxy_plan(h.backend, *current, {})) {
          (void)run(h.runtime_api, c);
        }
      }
    }
  }
  rollouts_.erase(it);
}

void HaproxyRouter::drain_endpoint(std::string_view rollout, const Endpoint& endpoint) {
  std::lock_guard lock(mu_);
  auto it = rollouts_.find(rollout);
  if (it == rollouts_.end()) return;
  RolloutState& st = it->second;
  st.drained.insert(endpoint_key(endpoint));
  if (!st.last.haproxy) return;
  for (const auto& r : st.last.revisions) {
    for (const auto& e : r.ready_endpoints) {
      if (e == endpoint) {
        // Stops new requests now; the next apply() puts it in maint and deletes it. An error here
        // is retried by that apply (the endpoint is in the drained set).
        (void)run(st.last.haproxy->runtime_api,
                  {fmt::format("set server {}/{} state drain", st.last.haproxy->backend,
                               haproxy_server_name(r.revision, e.instance_id)),
                   HaproxyCommand::Expect::kEmpty});
      }
    }
  }
}

std::optional<VersionStats> HaproxyRouter::stats(std::string_view rollout, int64_t revision,
                                                 Duration window) const {
  std::lock_guard lock(mu_);
  auto it = rollouts_.find(rollout);
  if (it == rollouts_.end() || !it->second.last.haproxy) return std::nullopt;
  const RolloutState& st = it->second;
  const auto& h = *st.last.haproxy;
  auto answer = haproxy_command(h.runtime_api, "show stat", options_.timeout);
  if (!answer) return std::nullopt;
  auto rows = parse_show_stat(*answer);
  if (!rows) return std::nullopt;

  Sample now{clock_.now(), {}};
  double ttime_weighted = 0;
  uint64_t ttime_weight = 0;
  for (const auto& row : *rows) {
    auto px = row.find("pxname");
    auto sv = row.find("svname");
    if (px == row.end() || sv == row.end() || px->second != h.backend) continue;
    auto rev = haproxy_server_revision(sv->second);
    if (!rev) continue;
    uint64_t requests = to_u64(row, "req_tot");
    if (requests == 0) requests = to_u64(row, "stot");
    auto& [req, err] = now.requests_and_5xx[*rev];
    req += requests;
    err += to_u64(row, "hrsp_5xx");
    if (*rev == revision && requests > 0) {
      ttime_weighted += static_cast<double>(to_u64(row, "ttime")) * static_cast<double>(requests);
      ttime_weight += requests;
    }
  }
  // Baseline: the newest earlier sample at least `window` old, else the oldest one.
  const Sample* base = nullptr;
  for (const Sample& s : st.samples) {
    if (s.at <= now.at - window || base == nullptr) base = &s;
  }
  VersionStats out;
  auto cur = now.requests_and_5xx.find(revision);
  const bool seen = cur != now.requests_and_5xx.end();
  const uint64_t cur_req = cur == now.requests_and_5xx.end() ? 0 : cur->second.first;
  const uint64_t cur_err = cur == now.requests_and_5xx.end() ? 0 : cur->second.second;
  uint64_t base_req = 0, base_err = 0;
  if (base != nullptr) {
    if (auto b = base->requests_and_5xx.find(revision); b != base->requests_and_5xx.end()) {
      base_req = b->second.first;
      base_err = b->second.second;
    }
    out.window = std::chrono::duration_cast<Duration>(now.at - base->at);
  }
  // Counters shrink when HAProxy reloads or servers are deleted: count from zero then.
  out.requests = cur_req >= base_req ? cur_req - base_req : cur_req;
  out.errors_5xx = cur_err >= base_err ? cur_err - base_err : cur_err;
  out.errors_5xx = std::min(out.errors_5xx, out.requests);
  out.success_rate = out.requests == 0 ? std::nan("")
                                       : static_cast<double>(out.requests - out.errors_5xx) /
                                             static_cast<double>(out.requests);
  if (ttime_weight > 0) {
    out.p50_ms = out.p99_ms = ttime_weighted / static_cast<double>(ttime_weight);
  }
  if (out.window.count() > 0) {
    out.rps = static_cast<double>(out.requests) * 1000.0 / static_cast<double>(out.window.count());
  }
  st.samples.push_back(std::move(now));
  const TimePoint keep_after = st.samples.back().at - std::chrono::minutes(10);
  while (st.samples.size() > 1 && st.samples.front().at < keep_after) {
    st.samples.erase(st.samples.begin());
  }
  if (!seen) return std::nullopt;
  return out;
}

}  // namespace sluice::traffic
