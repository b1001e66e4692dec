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

std::string haproxy_canary_backend(const std::string& backend) { return backend + "-canary"; }

std::string haproxy_header_map_suffix(const std::string& backend) {
  return backend + "-header-routes.map";
}

namespace {

// A literal for PCRE: ASCII punctuation backslash-escaped, blanks and other ASCII non-printables
// as \xHH, letters, digits and bytes >= 0x80 (UTF-8) as they are.
std::string pcre_literal(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || u >= 0x80) {
      out += c;
    } else if (u <= 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += '\\';
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string haproxy_header_route_regex(const std::vector<manifests::HeaderRouteMatch>& match) {
  // (?m): ^ and $ at each header line. One lookahead per match, so all must hold in any order.
  std::string out = "(?m)\\A";
  for (const auto& m : match) {
    std::string value;
    if (m.header_value.exact) {
      value = pcre_literal(*m.header_value.exact);
    } else if (m.header_value.prefix) {
      value = pcre_literal(*m.header_value.prefix) + "[^\\r\\n]*?";
    } else if (m.header_value.regex) {
      value = "(?:" + *m.header_value.regex + ")";
    }
    out += fmt::format("(?=[\\s\\S]*?^(?i:{}):[\\x20\\t]*{}[\\x20\\t]*\\r?$)",
                       pcre_literal(m.header_name), value);
  }
  return out;
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
      plan.push_back({fmt::format("add server {} {}:{} weight {} {}", target, d.addr, d.port,
                                  d.weight, kHaproxyDynamicServerPool),
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
  if (Status s = apply_header_routes(table, drained); !s) return s;
  st.last = table;
  st.drained = std::move(drained);
  return Status::ok();
}

Status HaproxyRouter::sync_servers(const std::string& socket, const std::string& backend,
                                   const std::vector<HaproxyDesiredServer>& desired) const {
  const std::string show = "show servers state " + backend;
  auto answer = haproxy_command(socket, show, options_.timeout);
  if (!answer) return answer.status();
  auto current = parse_servers_state(*answer);
  if (!current) {
    return failed_precondition(fmt::format("haproxy runtime API {}: \"{}\": {}", socket, show,
                                           current.status().message()));
  }
  for (const HaproxyCommand& c : haproxy_plan(backend, *current, desired)) {
    if (Status s = run(socket, c); !s) return s;
  }
  return Status::ok();
}

Status HaproxyRouter::sync_map(
    const std::string& socket, const std::string& map_file,
    const std::vector<std::pair<std::string, std::string>>& desired) const {
  const std::string file = haproxy_cli_escape(map_file);
  auto fail = [&](const std::string& command, std::string_view answer) {
    return failed_precondition(fmt::format("haproxy runtime API {}: \"{}\" answered \"{}\"", socket,
                                           command, trimmed(answer)));
  };
  const std::string show = "show map " + file;
  auto answer = haproxy_command(socket, show, options_.timeout);
  if (!answer) return answer.status();
  auto current = parse_map_entries(*answer);
  if (!current) return fail(show, *answer);
  if (*current == desired) return Status::ok();

  const std::string prepare = "prepare map " + file;
  answer = haproxy_command(socket, prepare, options_.timeout);
  if (!answer) return answer.status();
  constexpr std::string_view kCreated = "New version created: ";
  const std::string created = trimmed(*answer);
  if (!starts_with(created, kCreated)) return fail(prepare, *answer);
  const std::string version = created.substr(kCreated.size());
  if (version.empty() || version.find_first_not_of("0123456789") != std::string::npos) {
    return fail(prepare, *answer);
  }
  for (const auto& [key, value] : desired) {
    HaproxyCommand add{fmt::format("add map @{} {} {} {}", version, file, haproxy_cli_escape(key),
                                   haproxy_cli_escape(value)),
                       HaproxyCommand::Expect::kEmpty};
    if (Status s = run(socket, add); !s) return s;
  }
  return run(socket,
             {fmt::format("commit map @{} {}", version, file), HaproxyCommand::Expect::kEmpty});
}

Result<std::optional<std::string>> HaproxyRouter::find_header_map(
    const std::string& socket, const std::string& backend) const {
  auto answer = haproxy_command(socket, "show map", options_.timeout);
  if (!answer) return answer.status();
  auto files = parse_map_list(*answer);
  if (!files) {
    return failed_precondition(
        fmt::format("haproxy runtime API {}: \"show map\": {}", socket, files.status().message()));
  }
  const std::string suffix = haproxy_header_map_suffix(backend);
  for (const std::string& f : *files) {
    const bool named = f.size() >= suffix.size() &&
                       f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                       (f.size() == suffix.size() || f[f.size() - suffix.size() - 1] == '/');
    if (named) return std::optional<std::string>(f);
  }
  return std::optional<std::string>();
}

Status HaproxyRouter::apply_header_routes(const RouteTable& table,
                                          const std::set<std::string>& drained) const {
  const auto& h = *table.haproxy;
  const std::string canary_backend = haproxy_canary_backend(h.backend);
  std::vector<const HeaderRoute*> routes;
  for (const HeaderRoute& r : table.header_routes) {
    if (!r.match.empty()) routes.push_back(&r);
  }
  for (const HeaderRoute* r : routes) {
    if (r->revision != routes.front()->revision) {
      return failed_precondition(fmt::format(
          "rollout {}: HAProxy header routes must all go to one revision (routes \"{}\" and "
          "\"{}\")",
          table.rollout, routes.front()->name, r->name));
    }
  }
  auto map_file = find_header_map(h.runtime_api, h.backend);
  if (!map_file) return map_file.status();
  if (!*map_file) {
    if (routes.empty()) return Status::ok();  // header routes not configured, none asked for
    return failed_precondition(fmt::format(
        "rollout {}: header route \"{}\" through HAProxy needs a map file named \"{}\" used in "
        "the frontend (http-request set-var(txn.sluice_backend) req.hdrs,map_reg(<file>)) and "
        "a backend \"{}\" in haproxy.cfg; `show map` on {} lists no such map",
        table.rollout, routes.front()->name, haproxy_header_map_suffix(h.backend), canary_backend,
        h.runtime_api));
  }
  std::vector<HaproxyDesiredServer> canary_servers;
  if (!routes.empty()) {
    for (const RevisionRoute& r : table.revisions) {
      if (r.revision != routes.front()->revision) continue;
      for (const Endpoint& e : r.ready_endpoints) {
        if (drained.count(endpoint_key(e))) continue;
        canary_servers.push_back({haproxy_server_name(r.revision, e.instance_id),
                                  e.host == "localhost" ? "127.0.0.1" : e.host, e.port, 1});
      }
    }
  }
  std::vector<std::pair<std::string, std::string>> entries;
  if (!canary_servers.empty()) {
    for (const HeaderRoute* r : routes) {
      entries.emplace_back(haproxy_header_route_regex(r->match), canary_backend);
    }
  }
  auto explain = [&](Status s) {
    if (s.is_ok() || routes.empty()) return s;
    return failed_precondition(fmt::format("rollout {}: header route \"{}\" (backend {}): {}",
                                           table.rollout, routes.front()->name, canary_backend,
                                           s.message()));
  };
  if (!entries.empty()) {
    if (Status s = sync_servers(h.runtime_api, canary_backend, canary_servers); !s) {
      return explain(s);
    }
    return sync_map(h.runtime_api, **map_file, entries);
  }
  if (Status s = sync_map(h.runtime_api, **map_file, {}); !s) return s;
  // No route: <backend>-canary is emptied (it may be absent when routes were never used).
  Status emptied = sync_servers(h.runtime_api, canary_backend, {});
  if (!emptied && routes.empty() &&
      emptied.message().find("Can't find backend") != std::string::npos) {
    return Status::ok();
  }
  return explain(emptied);
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
    if (auto map_file = find_header_map(h.runtime_api, h.backend); map_file && *map_file) {
      (void)sync_map(h.runtime_api, **map_file, {});
      (void)sync_servers(h.runtime_api, haproxy_canary_backend(h.backend), {});
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
        for (const HeaderRoute& hr : st.last.header_routes) {
          if (hr.revision != r.revision) continue;
          (void)run(st.last.haproxy->runtime_api,
                    {fmt::format("set server {}/{} state drain",
                                 haproxy_canary_backend(st.last.haproxy->backend),
                                 haproxy_server_name(r.revision, e.instance_id)),
                     HaproxyCommand::Expect::kEmpty});
          break;
        }
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
    if (px == row.end() || sv == row.end()) continue;
    if (px->second != h.backend && px->second != haproxy_canary_backend(h.backend)) continue;
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
