// bench_router: throughput and latency of the built-in router against HAProxy (nbthread 1) and
// against the backend directly, all driven by wrk in the same run; latency at half load (a paced
// client, the same rate on every path); plus weight-change-to-effect
// latency (apply() until the first response from the new version) for both routers.
// Loopback only; bounded (about 25 s).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/support/paced_client.h"
#include "tests/integration/traffic/haproxy_process.h"
#include "tests/integration/traffic/http_test_client.h"
#include "tests/support/echo_backend/echo_backend.h"
#include "traffic/builtin_router.h"
#include "traffic/haproxy_router.h"

namespace {

using namespace sluice;
using namespace sluice::traffic;
using sluice::testing::EchoBackend;
using Clock = std::chrono::steady_clock;

struct WrkResult {
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  bool ok = false;
  std::string errors;  // wrk's "Socket errors" / "Non-2xx" lines, if any
};

double to_ms(double v, const std::string& unit) {
  if (unit == "us") return v / 1000;
  if (unit == "s") return v * 1000;
  return v;
}

WrkResult run_wrk(uint16_t port, int connections, int seconds) {
  WrkResult out;
  int fds[2];
  if (pipe(fds) != 0) return out;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<std::string> args = {"wrk",
                                   "-t1",
                                   "-c" + std::to_string(connections),
                                   "-d" + std::to_string(seconds) + "s",
                                   "--latency",
                                   "http://127.0.0.1:" + std::to_string(port) + "/"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "wrk", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while (rc == 0 && (n = read(fds[0], buf, sizeof(buf))) > 0)
    text.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  if (rc != 0) return out;
  int status = 0;
  waitpid(pid, &status, 0);
  // "Requests/sec:  12345.67" and latency distribution lines "     50%  123.00us".
  auto value_after = [&](const std::string& key, std::string* unit) -> double {
    const size_t at = text.find(key);
    if (at == std::string::npos) return 0;
    size_t i = at + key.size();
    while (i < text.size() && text[i] == ' ') ++i;
    size_t end = i;
    while (end < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) {
      ++end;
    }
    if (end == i) return 0;
    if (unit != nullptr) {
      size_t u = end;
      while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) ++u;
      *unit = text.substr(end, u - end);
    }
    return std::stod(text.substr(i, end - i));
  };
  std::string unit;
  out.rps = value_after("Requests/sec:", nullptr);
  out.p50_ms = to_ms(value_after(" 50%", &unit), unit);
  out.p99_ms = to_ms(value_after(" 99%", &unit), unit);
  for (const char* key : {"Socket errors", "Non-2xx"}) {
    if (const size_t at = text.find(key); at != std::string::npos) {
      out.errors += " [" + text.substr(at, text.find('\n', at) - at) + "]";
    }
  }
  out.ok = out.rps > 0 && text.find("Non-2xx") == std::string::npos &&
           text.find("Socket errors") == std::string::npos;
  return out;
}

RouteTable table(const EchoBackend& v1, const EchoBackend& v2, int v2_weight) {
  RouteTable t;
  t.rollout = "bench";
  t.listen = "127.0.0.1:0";
  t.revisions.push_back({1, "v1", "stable", 100 - v2_weight, {{"a", "127.0.0.1", v1.port()}}});
  t.revisions.push_back({2, "v2", "canary", v2_weight, {{"b", "127.0.0.1", v2.port()}}});
  return t;
}

// From apply() to the first response served by the version that just got 100%.
std::vector<double> switch_latencies_ms(Router& router, RouteTable t, uint16_t port, int rounds) {
  std::vector<double> out;
  sluice::testing::HttpTestClient client(port);
  for (int i = 0; i < rounds; ++i) {
    const int to = i % 2 == 0 ? 100 : 0;  // alternate v2 / v1
    const std::string want = to == 100 ? "v2" : "v1";
    t.revisions[0].weight_percent = 100 - to;
    t.revisions[1].weight_percent = to;
    const auto start = Clock::now();
    if (!router.apply(t).is_ok()) return {};
    for (int k = 0; k < 10'000; ++k) {
      auto r = client.get("/");
      if (r.status == 200 && r.body == want) break;
    }
    out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(out.begin(), out.end());
  return out;
}

double pct(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1,
                         static_cast<size_t>(q * static_cast<double>(sorted.size())))];
}

}  // namespace

int main() {
  EchoBackend v1("v1"), v2("v2");
  BuiltinRouter builtin(SystemClock::instance());  // 1 I/O thread
  auto t = table(v1, v2, 0);
  if (!builtin.apply(t).is_ok()) return 1;
  const uint16_t builtin_port = *builtin.listen_port("bench");

  sluice::testing::HaproxyProcess haproxy("bench");
  if (!haproxy.ready()) {
    std::printf("bench_router: haproxy did not start\n");
    return 1;
  }
  HaproxyRouter haproxy_router(SystemClock::instance());
  RouteTable ht = t;
  ht.listen.clear();
  ht.haproxy = manifests::HaproxyRouting{haproxy.socket(), "bench"};
  if (Status s = haproxy_router.apply(ht); !s) {
    std::printf("bench_router: %s\n", s.to_string().c_str());
    return 1;
  }

  constexpr int kSeconds = 3;
  constexpr int kConnections = 32;
  const WrkResult direct = run_wrk(v1.port(), kConnections, kSeconds);
  const WrkResult ours = run_wrk(builtin_port, kConnections, kSeconds);
  const WrkResult theirs = run_wrk(haproxy.port(), kConnections, kSeconds);
  // Light load (one connection): latency added by each proxy over the direct path.
  const WrkResult direct1 = run_wrk(v1.port(), 1, 2);
  const WrkResult ours1 = run_wrk(builtin_port, 1, 2);
  const WrkResult theirs1 = run_wrk(haproxy.port(), 1, 2);

  std::printf("bench_router (wrk -t1 -c%d -d%ds, keep-alive, %zu-byte responses)\n", kConnections,
              kSeconds, std::string("v1").size());
  auto row = [](const char* name, const WrkResult& r) {
    std::printf("  %-22s %10.0f rps  p50 %7.3f ms  p99 %7.3f ms%s\n", name, r.rps, r.p50_ms,
                r.p99_ms, r.errors.c_str());
  };
  row("direct", direct);
  row("builtin (1 thread)", ours);
  row("haproxy (nbthread 1)", theirs);
  std::printf("  ratio builtin/haproxy rps: %.2fx\n", theirs.rps > 0 ? ours.rps / theirs.rps : 0);
  std::printf("  light load (-c1) added p99 over direct: builtin %.3f ms, haproxy %.3f ms\n",
              ours1.p99_ms - direct1.p99_ms, theirs1.p99_ms - direct1.p99_ms);

  // Half load: each path paced at half of the slower proxy's maximum (the same absolute rate for
  // all three), latency from each request's scheduled send time. The direct run is the baseline
  // that the client and backend cost; what a proxy adds on top is its own.
  const int half_rate =
      std::max(100, static_cast<int>(std::min(ours.rps, theirs.rps) / 2 / 100) * 100);
  constexpr int kPacedSeconds = 3;
  constexpr int kPacedConnections = 8;
  auto direct_h = sluice::bench::paced_run(v1.port(), "/", half_rate, kPacedSeconds,
                                           kPacedConnections);
  auto ours_h = sluice::bench::paced_run(builtin_port, "/", half_rate, kPacedSeconds,
                                         kPacedConnections);
  auto theirs_h = sluice::bench::paced_run(haproxy.port(), "/", half_rate, kPacedSeconds,
                                           kPacedConnections);
  std::printf("  half load (paced %d rps, %d conns, %d s):\n", half_rate, kPacedConnections,
              kPacedSeconds);
  auto paced_row = [](const char* name, sluice::bench::Latencies& l) {
    std::printf("    %-20s p50 %7.3f ms  p99 %7.3f ms  (%zu ok, %d errors)\n", name,
                l.percentile(0.5), l.percentile(0.99), l.ms.size(), l.errors);
  };
  paced_row("direct", direct_h);
  paced_row("builtin", ours_h);
  paced_row("haproxy", theirs_h);
  std::printf("  half load added p99 over direct: builtin %.3f ms, haproxy %.3f ms (goal <= 1 ms)\n",
              ours_h.percentile(0.99) - direct_h.percentile(0.99),
              theirs_h.percentile(0.99) - direct_h.percentile(0.99));

  const auto ours_switch = switch_latencies_ms(builtin, t, builtin_port, 40);
  const auto theirs_switch = switch_latencies_ms(haproxy_router, ht, haproxy.port(), 40);
  std::printf(
      "  weight change -> effect: builtin median %.3f ms p99 %.3f ms; haproxy median %.3f "
      "ms p99 %.3f ms\n",
      pct(ours_switch, 0.5), pct(ours_switch, 0.99), pct(theirs_switch, 0.5),
      pct(theirs_switch, 0.99));
  return direct.ok && ours.ok && theirs.ok && ours_h.errors == 0 && theirs_h.errors == 0 ? 0 : 1;
}
