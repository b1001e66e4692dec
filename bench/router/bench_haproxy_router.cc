// bench_haproxy_router: does HAProxy lose throughput when Sluice's HaproxyRouter fills its
// backend (servers added at run time) instead of a static `server` line? Three HAProxy 2.6
// processes with the same haproxy.cfg (nbthread 1), in one run:
//   static  - `server s1 <backend>` in the config (the peer)
//   router  - an empty backend whose server HaproxyRouter::apply() adds (`add server` with the
//             pool settings of kHaproxyDynamicServerPool)
//   old     - an empty backend with the server added as before issue 22 (`add server ... weight
//             256`, no pool settings), for reference
// The backend is a fourth HAProxy answering a 2-byte `http-request return` (as in issue 22).
// wrk -t1 -c32 -d3s per path, paths interleaved, several rounds; medians and the ratios against
// static (target router/static >= 0.90). Then each proxy's `show stat` connect/reuse counters
// (the cause), and apply()-to-first-response latency through the router path. Loopback only,
// bounded (about 60 s).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/support/wrk_runner.h"
#include "tests/integration/traffic/haproxy_process.h"
#include "tests/integration/traffic/http_test_client.h"
#include "traffic/haproxy_router.h"

namespace {

using namespace sluice;
using namespace sluice::traffic;
using sluice::testing::HaproxyProcess;
using SteadyClock = std::chrono::steady_clock;

constexpr int kRounds = 5;
constexpr int kSeconds = 3;
constexpr int kConnections = 32;

std::string global_section(const std::string& socket) {
  return fmt::format(
      "global\n"
      "  stats socket {} mode 600 level admin\n"
      "  nbthread 1\n"
      "defaults\n"
      "  mode http\n"
      "  option http-keep-alive\n"
      "  http-reuse safe\n"
      "  timeout connect 2s\n"
      "  timeout client 30s\n"
      "  timeout server 30s\n",
      socket);
}

// The upstream: answers "<body>" (2 bytes) itself.
HaproxyProcess::ConfigWriter upstream_config(std::string body) {
  return [body](uint16_t port, const std::string& socket) {
    return global_section(socket) +
           fmt::format(
               "frontend upstream\n"
               "  bind 127.0.0.1:{}\n"
               "  http-request return status 200 content-type text/plain string {}\n",
               port, body);
  };
}

// The proxy under test; `server_line` is empty for the paths whose server is added at run time.
std::string proxy_body(uint16_t port, const std::string& server_line) {
  return fmt::format(
      "frontend fe\n"
      "  bind 127.0.0.1:{}\n"
      "  default_backend bench\n"
      "backend bench\n"
      "  balance roundrobin\n"
      "{}",
      port, server_line.empty() ? "" : "  " + server_line + "\n");
}

HaproxyProcess::ConfigWriter proxy_config(std::string server_line) {
  return [server_line](uint16_t port, const std::string& socket) {
    return global_section(socket) + proxy_body(port, server_line);
  };
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double pct(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1,
                         static_cast<size_t>(q * static_cast<double>(sorted.size())))];
}

// `show stat` counters of the server rows of backend `bench`, summed.
std::map<std::string, uint64_t> server_counters(const std::string& socket) {
  std::map<std::string, uint64_t> out;
  auto answer = haproxy_command(socket, "show stat", Duration(1000));
  if (!answer) return out;
  auto rows = parse_show_stat(*answer);
  if (!rows) return out;
  for (const auto& row : *rows) {
    if (row.at("pxname") != "bench" || row.at("svname") == "BACKEND" ||
        row.at("svname") == "FRONTEND") {
      continue;
    }
    for (const char* key : {"req_tot", "connect", "reuse"}) {
      auto it = row.find(key);
      if (it != row.end() && !it->second.empty()) out[key] += std::stoull(it->second);
    }
  }
  return out;
}

RouteTable table(const std::string& socket, int v2_weight, uint16_t v1_port, uint16_t v2_port) {
  RouteTable t;
  t.rollout = "bench";
  t.haproxy = manifests::HaproxyRouting{socket, "bench"};
  t.revisions.push_back({1, "v1", "stable", 100 - v2_weight, {{"a", "127.0.0.1", v1_port}}});
  if (v2_port != 0) {
    t.revisions.push_back({2, "v2", "canary", v2_weight, {{"b", "127.0.0.1", v2_port}}});
  }
  return t;
}

// From apply() to the first response served by the version that just got 100%.
std::vector<double> switch_latencies_ms(HaproxyRouter& router, RouteTable t, uint16_t port,
                                        int rounds) {
  std::vector<double> out;
  sluice::testing::HttpTestClient client(port);
  for (int i = 0; i < rounds; ++i) {
    const int to = i % 2 == 0 ? 100 : 0;
    const std::string want = to == 100 ? "v2" : "v1";
    t.revisions[0].weight_percent = 100 - to;
    t.revisions[1].weight_percent = to;
    const auto start = SteadyClock::now();
    if (!router.apply(t).is_ok()) return {};
    for (int k = 0; k < 10'000; ++k) {
      auto r = client.get("/");
      if (r.status == 200 && r.body == want) break;
    }
    out.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

int main() {
  HaproxyProcess v1(upstream_config("v1")), v2(upstream_config("v2"));
  if (!v1.ready() || !v2.ready()) {
    std::printf("bench_haproxy_router: upstream haproxy did not start\n");
    return 1;
  }
  const std::string static_line = fmt::format("server s1 127.0.0.1:{}", v1.port());
  HaproxyProcess static_proxy(proxy_config(static_line));
  HaproxyProcess router_proxy(proxy_config("")), old_proxy(proxy_config(""));
  if (!static_proxy.ready() || !router_proxy.ready() || !old_proxy.ready()) {
    std::printf("bench_haproxy_router: haproxy did not start\n");
    return 1;
  }
  HaproxyRouter router(SystemClock::instance());
  if (Status s = router.apply(table(router_proxy.socket(), 0, v1.port(), 0)); !s) {
    std::printf("bench_haproxy_router: %s\n", s.to_string().c_str());
    return 1;
  }
  const std::string old_add =
      fmt::format("add server bench/r1-a 127.0.0.1:{} weight 256", v1.port());
  for (const std::string& command : {old_add, std::string("set server bench/r1-a state ready")}) {
    auto answer = haproxy_command(old_proxy.socket(), command, Duration(1000));
    if (!answer) {
      std::printf("bench_haproxy_router: %s\n", answer.status().to_string().c_str());
      return 1;
    }
  }

  std::printf(
      "bench_haproxy_router: HAProxy 2.6 nbthread 1, same haproxy.cfg for every path:\n"
      "  defaults: mode http, option http-keep-alive, http-reuse safe, timeouts 2s/30s/30s\n"
      "  backend bench: balance roundrobin, one server -> upstream (a HAProxy answering 2 bytes\n"
      "  with http-request return, nbthread 1)\n"
      "  static: `%s` in haproxy.cfg\n"
      "  router: empty backend, HaproxyRouter::apply(): `add server bench/r1-a 127.0.0.1:%u "
      "weight 256 %s`\n"
      "  old:    empty backend, `%s` (before issue 22)\n"
      "  load: wrk -t1 -c%d -d%ds, keep-alive; %d rounds, paths interleaved; medians\n",
      static_line.c_str(), v1.port(), std::string(kHaproxyDynamicServerPool).c_str(),
      old_add.c_str(), kConnections, kSeconds, kRounds);

  struct Path {
    const char* name;
    HaproxyProcess* proxy;
    std::vector<double> rps, p50, p99;
    std::string errors;
  };
  std::vector<Path> paths = {
      {"static", &static_proxy, {}, {}, {}, {}},
      {"router", &router_proxy, {}, {}, {}, {}},
      {"old add server", &old_proxy, {}, {}, {}, {}},
  };
  bool ok = true;
  for (int round = 0; round < kRounds; ++round) {
    for (size_t i = 0; i < paths.size(); ++i) {
      Path& p = paths[(i + static_cast<size_t>(round)) % paths.size()];  // rotate the order
      const auto r = sluice::bench::run_wrk(p.proxy->port(), kConnections, kSeconds);
      ok = ok && r.ok;
      p.rps.push_back(r.rps);
      p.p50.push_back(r.p50_ms);
      p.p99.push_back(r.p99_ms);
      p.errors += r.errors;
    }
  }
  const double static_rps = median(paths[0].rps);
  for (const Path& p : paths) {
    std::string runs;
    for (double r : p.rps) runs += fmt::format(" {:.0f}", r);
    const auto counters = server_counters(p.proxy->socket());
    std::printf(
        "  %-15s median %8.0f rps  p50 %6.3f ms  p99 %6.3f ms  ratio vs static %.2f  (runs:%s)\n"
        "  %-15s backend connections: %llu connects, %llu reuses for %llu requests%s\n",
        p.name, median(p.rps), median(p.p50), median(p.p99),
        static_rps > 0 ? median(p.rps) / static_rps : 0, runs.c_str(), "",
        static_cast<unsigned long long>(counters.count("connect") ? counters.at("connect") : 0),
        static_cast<unsigned long long>(counters.count("reuse") ? counters.at("reuse") : 0),
        static_cast<unsigned long long>(counters.count("req_tot") ? counters.at("req_tot") : 0),
        p.errors.c_str());
  }
  const double ratio = static_rps > 0 ? median(paths[1].rps) / static_rps : 0;
  std::printf("  router/static throughput ratio: %.2f (target >= 0.90)\n", ratio);

  const auto switches = switch_latencies_ms(
      router, table(router_proxy.socket(), 0, v1.port(), v2.port()), router_proxy.port(), 40);
  std::printf(
      "  router apply() -> first response from the new version (weight 0 <-> 100, 40 switches): "
      "median %.3f ms p99 %.3f ms\n",
      pct(switches, 0.5), pct(switches, 0.99));
  return ok && !switches.empty() ? 0 : 1;
}
