// bench_router: the built-in router where it lives (the `sluice router` process, driven through
// RemoteRouter as `sluice serve` drives it) against two peers configured as their users configure
// them - HAProxy with a static `server` line, keep-alive and connection reuse, and nginx with
// `proxy_pass` to a keepalive upstream - with one thread each and then two, all driven by wrk in
// the same run. Every path has the same backend: a separate HAProxy answering 2 bytes with
// `http-request return` (the cheapest HTTP answer on this machine, so the backend is not the
// bottleneck; "direct" shows its rate). Reports per path the median over rounds of wrk's
// throughput and p99, the proxy's CPU time per request (from /proc, the steadier figure on a
// shared machine), the ratios, latency at half load (a paced client, the same rate on every
// path), and apply-to-effect latency of a weight change through the router process.
// (Sluice's HAProxy-router mode, servers added at run time, is bench_haproxy_router's subject.)
// Loopback only; bounded (about 100 s).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/support/paced_client.h"
#include "bench/support/peer_process.h"
#include "bench/support/wrk_runner.h"
#include "tests/integration/traffic/http_test_client.h"
#include "traffic/router_control.h"

namespace {

using namespace sluice;
using namespace sluice::traffic;
using sluice::bench::PeerProcess;
using Clock = std::chrono::steady_clock;

using sluice::bench::run_wrk;
using sluice::bench::WrkResult;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double pct(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1,
                         static_cast<size_t>(q * static_cast<double>(sorted.size())))];
}

std::string lo(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// The backend of every path: HAProxy answering "v1" on one port and "v2" on another.
struct Backend {
  PeerProcess process{"backend"};
  uint16_t v1 = 0, v2 = 0;
  std::string config;
  bool start() {
    for (int attempt = 0; attempt < 3; ++attempt) {
      v1 = bench::free_loopback_port();
      v2 = bench::free_loopback_port();
      config =
          "global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n"
          "  timeout client 30s\nfrontend v1\n  bind " +
          lo(v1) +
          "\n  http-request return status 200 content-type text/plain string v1\n"
          "frontend v2\n  bind " +
          lo(v2) + "\n  http-request return status 200 content-type text/plain string v2\n";
      const std::string cfg = process.write_file("haproxy.cfg", config);
      if (process.start({"haproxy", "-f", cfg}, v1) && bench::wait_for_port(v2, 5'000)) {
        return true;
      }
    }
    return false;
  }
};

// One proxy under test: its label, the configuration a reader needs to judge it, its port and
// the process whose CPU time it spends.
struct Path {
  std::string label;
  std::string config;
  uint16_t port = 0;
  pid_t pid = -1;
  std::vector<double> rps, p99_ms, cpu_us_per_request;
  std::vector<double> busy_percent;  // the proxy's CPU time over wall time: 100 = one core full
  bool ok = true;
  std::string errors;
};

struct HaproxyPeer {
  PeerProcess process{"haproxy"};
  Path path;
  bool start(int threads, uint16_t backend) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      path.port = bench::free_loopback_port();
      path.config = "global\n  nbthread " + std::to_string(threads) +
                    "\n  maxconn 4096\ndefaults\n  mode http\n  option http-keep-alive\n"
                    "  http-reuse safe\n  timeout connect 2s\n  timeout client 30s\n"
                    "  timeout server 30s\nfrontend fe\n  bind " +
                    lo(path.port) + "\n  default_backend be\nbackend be\n  server v1 " +
                    lo(backend) + "\n";
      const std::string cfg = process.write_file("haproxy.cfg", path.config);
      if (process.start({"haproxy", "-f", cfg}, path.port)) break;
    }
    path.label = "haproxy nbthread " + std::to_string(threads);
    path.pid = process.pid();
    if (path.pid <= 0) std::printf("bench_router: %s\n", process.error().c_str());
    return path.pid > 0;
  }
};

struct NginxPeer {
  PeerProcess process{"nginx"};
  Path path;
  bool start(int workers, uint16_t backend) {
    const std::string d = process.dir();
    for (int attempt = 0; attempt < 3; ++attempt) {
      path.port = bench::free_loopback_port();
      path.config = "worker_processes " + std::to_string(workers) + ";\npid " + d +
                    "/nginx.pid;\nerror_log " + d +
                    "/error.log warn;\nevents { worker_connections 4096; }\nhttp {\n"
                    "  access_log off;\n  client_body_temp_path " +
                    d +
                    "/body;\n"
                    "  proxy_temp_path " +
                    d + "/proxy;\n  fastcgi_temp_path " + d + "/fastcgi;\n  uwsgi_temp_path " + d +
                    "/uwsgi;\n  scgi_temp_path " + d +
                    "/scgi;\n  keepalive_requests 1000000;\n  upstream be {\n    server " +
                    lo(backend) + ";\n    keepalive 64;\n  }\n  server {\n    listen " +
                    lo(path.port) +
                    ";\n    location / {\n      proxy_pass http://be;\n"
                    "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n"
                    "    }\n  }\n}\n";
      const std::string cfg = process.write_file("nginx.conf", path.config);
      // keepalive_requests: nginx closes a client connection after 1,000 requests by default,
      // which the paced client counts as errors (wrk reconnects silently); HAProxy and the
      // built-in router keep connections open. Its own prefix, config and error log, in the
      // foreground: never the system service.
      if (process.start({"nginx", "-p", d, "-c", cfg, "-e", d + "/error.log", "-g", "daemon off;"},
                        path.port)) {
        break;
      }
    }
    path.label = "nginx workers " + std::to_string(workers);
    path.pid = process.pid();
    if (path.pid <= 0) std::printf("bench_router: %s\n", process.error().c_str());
    return path.pid > 0;
  }
};

RouteTable table(const Backend& backend, int v2_weight) {
  RouteTable t;
  t.rollout = "bench";
  t.listen = "127.0.0.1:0";
  t.revisions.push_back({1, "v1", "stable", 100 - v2_weight, {{"a", "127.0.0.1", backend.v1}}});
  t.revisions.push_back({2, "v2", "canary", v2_weight, {{"b", "127.0.0.1", backend.v2}}});
  return t;
}

// The built-in router in its own process, `sluice router --threads N`, started and driven by a
// RemoteRouter exactly as `sluice serve` does.
struct BuiltinPeer {
  std::string dir;
  std::unique_ptr<RemoteRouter> router;
  Path path;
  RouteTable routes;
  bool start(int threads, const std::string& sluice, const Backend& backend) {
    std::string tmpl = "/tmp/sluice-bench-router-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return false;
    dir = tmpl;
    RemoteRouterOptions options;
    options.dir = dir;
    options.start_argv = {sluice,        "router",    "--state-dir",
                          dir,           "--threads", std::to_string(threads),
                          "--log-level", "warn"};
    router = std::make_unique<RemoteRouter>(options);
    routes = table(backend, 0);
    if (Status s = router->start(); !s) {
      std::printf("bench_router: sluice router: %s\n", s.to_string().c_str());
      return false;
    }
    if (Status s = router->apply(routes); !s) {
      std::printf("bench_router: apply: %s\n", s.to_string().c_str());
      return false;
    }
    path.port = router->listen_port("bench").value_or(0);
    path.pid = router->router_pid();
    path.label = "sluice router --threads " + std::to_string(threads);
    path.config = "sluice router --threads " + std::to_string(threads) +
                  " (ProxyOptions defaults: keep-alive both sides, idle upstream pool per client "
                  "session, X-Sluice-Version added)\nroute table: v1 stable weight 100 -> " +
                  lo(backend.v1) + ", v2 canary weight 0 -> " + lo(backend.v2) + "\n";
    return path.port != 0 && path.pid > 0;
  }
  ~BuiltinPeer() {
    if (path.pid > 0) {
      ::kill(path.pid, SIGTERM);
      for (int i = 0; i < 500 && ::waitpid(path.pid, nullptr, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

// From apply() (through the router process's control socket) to the first response served by
// the version that just got 100%.
std::vector<double> switch_latencies_ms(BuiltinPeer& peer, int rounds) {
  std::vector<double> out;
  sluice::testing::HttpTestClient client(peer.path.port);
  RouteTable t = peer.routes;
  for (int i = 0; i < rounds; ++i) {
    const int to = i % 2 == 0 ? 100 : 0;  // alternate v2 / v1
    const std::string want = to == 100 ? "v2" : "v1";
    t.revisions[0].weight_percent = 100 - to;
    t.revisions[1].weight_percent = to;
    const auto start = Clock::now();
    if (!peer.router->apply(t).is_ok()) return {};
    for (int k = 0; k < 10'000; ++k) {
      auto r = client.get("/");
      if (r.status == 200 && r.body == want) break;
    }
    out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Pinning (issue 22): on this 2-core machine a proxy that shares its core with wrk and the
// backend measures the scheduler as much as itself. A one-thread proxy gets core 1 alone; wrk
// (inheriting this thread's mask), the paced client and the backend share core 0, identically
// for every proxy. Two-thread proxies cannot be pinned fairly on two cores (they would share
// their cores with the load generator whatever the mask), so they, wrk and the backend run
// unpinned, as before.
const std::vector<int> kProxyCpus = {1};
const std::vector<int> kLoadCpus = {0};
const std::vector<int> kAllCpus = {0, 1};

// Applies the placement for one path; false (and a message) when a mask could not be set.
bool place(const Path& p, pid_t backend, bool pinned) {
  bool ok = bench::pin_this_thread(pinned ? kLoadCpus : kAllCpus) &&
            bench::pin_process_tree(backend, pinned ? kLoadCpus : kAllCpus);
  if (p.pid != backend) ok = bench::pin_process_tree(p.pid, pinned ? kProxyCpus : kAllCpus) && ok;
  if (!ok) std::printf("bench_router: could not set CPU affinity for %s\n", p.label.c_str());
  return ok;
}

void measure(Path& p, int connections, int seconds) {
  const double cpu_before = bench::cpu_seconds(p.pid);
  const WrkResult r = run_wrk(p.port, connections, seconds);
  const double cpu = bench::cpu_seconds(p.pid) - cpu_before;
  p.rps.push_back(r.rps);
  p.p99_ms.push_back(r.p99_ms);
  if (p.pid > 0 && r.requests > 0) p.cpu_us_per_request.push_back(cpu * 1e6 / r.requests);
  if (p.pid > 0) p.busy_percent.push_back(cpu * 100 / seconds);
  if (!r.ok) {
    p.ok = false;
    p.errors += r.errors.empty() ? " [no answer]" : r.errors;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Rounds of wrk per path (interleaved, so a burst of load elsewhere on the machine hits every
  // path alike); the median is reported.
  const int rounds = argc > 1 ? std::clamp(std::atoi(argv[1]), 1, 9) : 3;
  // `bench_router ROUNDS --nice N` (N in -20..0): every process of the benchmark (proxies,
  // backend, wrk, paced client) at nice N, so that on a machine shared with other work (builds)
  // the processes measured get their cores and the rates measure their own cost rather than
  // their share of a crowded core. Default 0 (as before).
  // `--no-pin`: every process on every core, as before pinning (for comparison; see the pinning
  // line of the output).
  int nice = 0;
  bool pin = true;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--nice" && i + 1 < argc) nice = std::clamp(std::atoi(argv[++i]), -20, 0);
    if (arg == "--no-pin") pin = false;
  }
  const std::string sluice =
      (std::filesystem::canonical("/proc/self/exe").parent_path() / "sluice").string();
  signal(SIGPIPE, SIG_IGN);

  Backend backend;
  if (!backend.start()) {
    std::printf("bench_router: backend haproxy did not start: %s\n",
                backend.process.error().c_str());
    return 1;
  }
  Path direct;
  direct.label = "direct (backend)";
  direct.port = backend.v1;
  direct.pid = backend.process.pid();
  BuiltinPeer builtin1, builtin2;
  HaproxyPeer haproxy1, haproxy2;
  NginxPeer nginx1, nginx2;
  if (!builtin1.start(1, sluice, backend) || !builtin2.start(2, sluice, backend) ||
      !haproxy1.start(1, backend.v1) || !haproxy2.start(2, backend.v1) ||
      !nginx1.start(1, backend.v1) || !nginx2.start(2, backend.v1)) {
    return 1;
  }
  std::vector<Path*> paths = {&direct,        &builtin1.path, &haproxy1.path, &nginx1.path,
                              &builtin2.path, &haproxy2.path, &nginx2.path};

  constexpr int kSeconds = 3;
  constexpr int kConnections = 32;
  const pid_t backend_pid = backend.process.pid();
  auto pinned = [&](const Path* p) {
    return pin && (p == &direct || p == &builtin1.path || p == &haproxy1.path || p == &nginx1.path);
  };
  bool placed = true;
  if (nice != 0) {
    placed = bench::set_nice_this_thread(nice) && bench::set_nice_process_tree(backend_pid, nice);
    for (Path* p : paths) {
      if (p->pid != backend_pid) placed = bench::set_nice_process_tree(p->pid, nice) && placed;
    }
    if (!placed) std::printf("bench_router: could not set nice %d (needs CAP_SYS_NICE)\n", nice);
  }
  for (int round = 0; round < rounds; ++round) {
    for (Path* p : paths) {
      placed = place(*p, backend_pid, pinned(p)) && placed;
      measure(*p, kConnections, kSeconds);
    }
  }

  std::printf(
      "bench_router (wrk -t1 -c%d -d%ds, keep-alive, 2-byte responses, median of %d "
      "rounds; CPU per request is the proxy process's user+system time from /proc; busy is that "
      "time over the run, 100%% = one core)\n",
      kConnections, kSeconds, rounds);
  std::printf("backend of every path (haproxy 2.6, nbthread 1):\n");
  auto print_config = [](const std::string& text) {
    size_t at = 0;
    while (at < text.size()) {
      const size_t end = text.find('\n', at);
      std::printf("    | %s\n", text.substr(at, end - at).c_str());
      at = end == std::string::npos ? text.size() : end + 1;
    }
  };
  print_config(backend.config);
  if (pin) {
    std::printf(
        "pinning: one-thread proxies on %s; wrk, the paced client and the backend on %s "
        "(direct: wrk and backend on %s, the capacity of the load side). Two-thread paths "
        "unpinned (%s for all: two proxy threads cannot have a core of their own next to the "
        "load generator on a 2-core machine). Other processes on the machine are not pinned "
        "away: a pinned proxy still shares its core with them (see busy%%), and every request "
        "crosses cores four times. nice %d for every process of the benchmark\n",
        bench::describe_cpus(kProxyCpus).c_str(), bench::describe_cpus(kLoadCpus).c_str(),
        bench::describe_cpus(kLoadCpus).c_str(), bench::describe_cpus(kAllCpus).c_str(), nice);
  } else {
    std::printf("pinning: none (--no-pin: %s for every process); nice %d for every process\n",
                bench::describe_cpus(kAllCpus).c_str(), nice);
  }
  for (Path* p : paths) {
    if (p->config.empty()) continue;
    std::printf("  %s:\n", p->label.c_str());
    print_config(p->config);
  }
  for (Path* p : paths) {
    std::printf("  %-28s %9.0f rps  p99 %7.3f ms  cpu %6.2f us/request  busy %4.0f%%%s\n",
                p->label.c_str(), median(p->rps), median(p->p99_ms), median(p->cpu_us_per_request),
                median(p->busy_percent), p->errors.c_str());
  }
  auto ratio = [](const Path& a, const Path& b) {
    const double rb = median(b.rps);
    return rb > 0 ? median(a.rps) / rb : 0;
  };
  auto cpu_ratio = [](const Path& a, const Path& b) {
    const double ca = median(a.cpu_us_per_request);
    return ca > 0 ? median(b.cpu_us_per_request) / ca : 0;
  };
  std::printf(
      "  1 thread : builtin/haproxy %.2fx, builtin/nginx %.2fx rps (goal >= 1.2x haproxy); "
      "CPU per request haproxy/builtin %.2fx, nginx/builtin %.2fx\n",
      ratio(builtin1.path, haproxy1.path), ratio(builtin1.path, nginx1.path),
      cpu_ratio(builtin1.path, haproxy1.path), cpu_ratio(builtin1.path, nginx1.path));
  std::printf(
      "  2 threads: builtin/haproxy %.2fx, builtin/nginx %.2fx rps; CPU per request "
      "haproxy/builtin %.2fx, nginx/builtin %.2fx\n",
      ratio(builtin2.path, haproxy2.path), ratio(builtin2.path, nginx2.path),
      cpu_ratio(builtin2.path, haproxy2.path), cpu_ratio(builtin2.path, nginx2.path));

  // Half load: each path paced at half of the slowest one-thread proxy's maximum (the same
  // absolute rate for all), latency from each request's scheduled send time. The direct run is
  // the baseline that the client and backend cost; what a proxy adds on top is its own.
  const double slowest =
      std::min({median(builtin1.path.rps), median(haproxy1.path.rps), median(nginx1.path.rps)});
  const int half_rate = std::max(100, static_cast<int>(slowest / 2 / 100) * 100);
  // Interleaved rounds as for the rates (a burst of load elsewhere hit one path's single run
  // before); per path the median over rounds of p50 and p99, and of p99 minus the direct p99 of
  // the same round.
  constexpr int kPacedSeconds = 2;
  constexpr int kPacedConnections = 8;
  std::printf(
      "  half load (paced %d rps, %d conns, %d s x %d interleaved rounds, medians; placed as "
      "above):\n",
      half_rate, kPacedConnections, kPacedSeconds, rounds);
  bool paced_ok = true;
  const std::array<Path*, 4> paced = {&direct, &builtin1.path, &haproxy1.path, &nginx1.path};
  std::array<std::vector<double>, 4> p50s, p99s, added;
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < paced.size(); ++i) {
      placed = place(*paced[i], backend_pid, pin) && placed;
      auto l = bench::paced_run(paced[i]->port, "/", half_rate, kPacedSeconds, kPacedConnections);
      paced_ok = paced_ok && l.complete();
      if (!l.complete()) std::printf("    %s: %d errors\n", paced[i]->label.c_str(), l.errors);
      p50s[i].push_back(l.percentile(0.5));
      p99s[i].push_back(l.percentile(0.99));
      added[i].push_back(p99s[i].back() - p99s[0].back());
    }
  }
  for (size_t i = 0; i < paced.size(); ++i) {
    std::printf("    %-28s p50 %7.3f ms  p99 %7.3f ms  added p99 %7.3f ms\n",
                paced[i]->label.c_str(), median(p50s[i]), median(p99s[i]), median(added[i]));
  }
  const double added_builtin = median(added[1]);
  const double added_haproxy = median(added[2]);
  std::printf(
      "  half load added p99 over direct: builtin %.3f ms, haproxy %.3f ms, nginx %.3f "
      "ms (goal: builtin <= haproxy and <= 1 ms: %s)\n",
      added_builtin, added_haproxy, median(added[3]),
      added_builtin <= added_haproxy && added_builtin <= 1.0 ? "met" : "not met");

  const auto switches = switch_latencies_ms(builtin1, 40);
  std::printf(
      "  weight change -> effect (apply through router.sock to the first response of "
      "the new version): median %.3f ms p99 %.3f ms\n",
      pct(switches, 0.5), pct(switches, 0.99));
  bench::pin_this_thread(kAllCpus);
  bool ok = paced_ok && placed && !switches.empty();
  for (Path* p : paths) ok = ok && p->ok;
  return ok ? 0 : 1;
}
