// bench_runtime: what the local runtime costs.
//   1. spawn-to-exec and spawn-to-listen (ms, median of 20) through LocalProcessRuntime, against
//      a raw posix_spawn of the same service (peer);
//   2. readiness-seen latency: from the moment an instance turns ready (its own clock) to
//      observe().ready, in probe periods (median over 10 instances, period 100 ms);
//   3. CPU of probing 200 instances (httpGet every 250 ms) over a 5 s window, against a plain
//      loop of blocking connect()+GET over the same ports at the same rate (peer).
// Needs sluice-testsvc in the same bin dir. Bounded: well under 60 s.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "base/process.h"
#include "runtime/local_process_runtime.h"

using namespace sluice;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

const std::string kTestsvc = std::string(SLUICE_BIN_DIR) + "/sluice-testsvc";

double ms_since(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One blocking HTTP GET; returns the body or "" on failure.
std::string http_get(int port, const char* path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string resp;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    if (write(fd, req.data(), req.size()) > 0) {
      char buf[2048];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  const size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

bool can_connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Bench {
  std::string dir;
  std::string checkout;
  boost::asio::io_context io;
  std::unique_ptr<runtime::LocalProcessRuntime> rt;

  Bench() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-bench-XXXXXX").string();
    dir = mkdtemp(tmpl.data());
    checkout = dir + "/checkout";
    std::filesystem::create_directories(checkout);
    runtime::LocalRuntimeOptions options;
    options.backoff.base = Duration(100);
    rt = std::make_unique<runtime::LocalProcessRuntime>(io, SystemClock::instance(), dir + "/state",
                                                        options);
  }
  ~Bench() {
    for (const auto& r : rt->rollouts()) {
      for (const auto& i : rt->observe(r)) {
        if (i.pid > 0) {
          kill(-i.pid, SIGKILL);
          waitpid(i.pid, nullptr, 0);
        }
      }
    }
    rt.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  runtime::RevisionSpec spec(const std::string& rollout, std::vector<std::string> extra) const {
    runtime::RevisionSpec s;
    s.rollout = rollout;
    s.revision = 1;
    s.checkout_dir = checkout;
    s.pod.command = {kTestsvc, "--max-lifetime-ms", "50000"};
    for (auto& e : extra) s.pod.command.push_back(std::move(e));
    s.pod.ports = {{"http", 0}};
    s.pod.termination_grace_period = Duration(1000);
    return s;
  }

  bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::microseconds step = 1ms) {
    const auto deadline = SteadyClock::now() + timeout;
    while (!pred()) {
      if (SteadyClock::now() >= deadline) return false;
      io.run_for(step);
    }
    return true;
  }
};

void bench_spawn(Bench& b) {
  std::vector<double> to_exec, to_listen, raw_listen;
  for (int i = 0; i < 20; ++i) {
    const auto spec = b.spec("spawn", {});
    const auto start = SteadyClock::now();
    b.rt->scale(spec, 1);
    if (!b.wait_for(
            [&] {
              auto v = b.rt->observe("spawn");
              return v.size() == 1 && v[0].pid > 0;
            },
            5s)) {
      std::printf("spawn: instance did not start\n");
      return;
    }
    to_exec.push_back(ms_since(start));
    const int port = b.rt->observe("spawn")[0].ports.at("http");
    b.wait_for([&] { return can_connect(port); }, 5s, 200us);
    to_listen.push_back(ms_since(start));
    b.rt->scale(spec, 0);
    b.wait_for([&] { return b.rt->observe("spawn").empty(); }, 5s);

    // Peer: the same service started by a bare posix_spawn.
    const int free_port = port;  // just released by the instance above
    SpawnRequest raw;
    raw.argv = {kTestsvc, "--port", std::to_string(free_port), "--max-lifetime-ms", "50000"};
    raw.env = current_environment();
    const auto raw_start = SteadyClock::now();
    auto pid = spawn_process(raw);
    if (!pid) continue;
    const auto deadline = SteadyClock::now() + 5s;
    while (!can_connect(free_port) && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(200us);
    }
    raw_listen.push_back(ms_since(raw_start));
    kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
  }
  std::printf("spawn-to-exec median: %.2f ms (runtime.scale -> pid observed)\n", median(to_exec));
  std::printf("spawn-to-listen median: %.2f ms runtime vs %.2f ms bare posix_spawn (ratio %.2f)\n",
              median(to_listen), median(raw_listen),
              median(raw_listen) > 0 ? median(to_listen) / median(raw_listen) : 0.0);
}

void bench_readiness(Bench& b) {
  constexpr int kInstances = 10;
  constexpr int kPeriodMs = 100;
  auto spec = b.spec("ready", {"--ready-after-ms", "700"});
  manifests::Probe probe;
  probe.http_get = manifests::HttpGetAction{"/ready", "http", "127.0.0.1", {}};
  probe.period = Duration(kPeriodMs);
  probe.failure_threshold = 1;
  spec.pod.readiness_probe = probe;
  b.rt->scale(spec, kInstances);
  std::map<std::string, int64_t> seen_at;
  b.wait_for(
      [&] {
        for (const auto& i : b.rt->observe("ready")) {
          if (i.ready && !seen_at.count(i.id)) seen_at[i.id] = wall_ms();
        }
        return seen_at.size() == kInstances;
      },
      10s);
  std::vector<double> periods;
  for (const auto& i : b.rt->observe("ready")) {
    const std::string info = http_get(i.ports.at("http"), "/info");
    const size_t at = info.find("\"ready_at_ms\":");
    if (at == std::string::npos || !seen_at.count(i.id)) continue;
    const int64_t ready_at = std::atoll(info.c_str() + at + 14);
    periods.push_back(static_cast<double>(seen_at[i.id] - ready_at) / kPeriodMs);
  }
  std::printf("readiness-seen latency median: %.2f probe periods (period %d ms, %zu instances)\n",
              median(periods), kPeriodMs, periods.size());
  b.rt->scale(spec, 0);
  b.wait_for([&] { return b.rt->observe("ready").empty(); }, 10s);
}

void bench_probe_cpu(Bench& b) {
  constexpr int kInstances = 200;
  auto spec = b.spec("many", {});
  manifests::Probe probe;
  probe.http_get = manifests::HttpGetAction{"/healthz", "http", "127.0.0.1", {}};
  probe.period = Duration(250);
  spec.pod.readiness_probe = probe;
  b.rt->scale(spec, kInstances);
  const bool all_ready = b.wait_for(
      [&] {
        const auto v = b.rt->observe("many");
        return v.size() == kInstances &&
               std::all_of(v.begin(), v.end(), [](const auto& i) { return i.ready; });
      },
      30s, 5ms);
  if (!all_ready) {
    std::printf("probe cpu: instances did not all become ready\n");
    return;
  }
  std::vector<int> ports;
  for (const auto& i : b.rt->observe("many")) ports.push_back(i.ports.at("http"));

  constexpr auto kWindow = 5s;
  const double cpu0 = cpu_seconds();
  const auto t0 = SteadyClock::now();
  b.io.run_for(kWindow);
  const double runtime_cpu = cpu_seconds() - cpu0;
  const double wall = ms_since(t0) / 1000;

  // Peer: the same probing done by a plain loop of blocking connect()+GET, same rate.
  const double cpu1 = cpu_seconds();
  const auto t1 = SteadyClock::now();
  int rounds = 0;
  while (SteadyClock::now() - t1 < kWindow) {
    const auto round_start = SteadyClock::now();
    for (int port : ports) http_get(port, "/healthz");
    ++rounds;
    std::this_thread::sleep_until(round_start + 250ms);
  }
  const double loop_cpu = cpu_seconds() - cpu1;
  std::printf("probing %d instances every 250 ms: %.1f%% of one core (%.3f s CPU in %.1f s)\n",
              kInstances, 100 * runtime_cpu / wall, runtime_cpu, wall);
  std::printf("peer blocking connect+GET loop: %.1f%% of one core (%d rounds); ratio %.2f\n",
              100 * loop_cpu / (ms_since(t1) / 1000), rounds,
              loop_cpu > 0 ? runtime_cpu / loop_cpu : 0.0);
  b.rt->scale(spec, 0);
  b.wait_for([&] { return b.rt->observe("many").empty(); }, 15s, 5ms);
}

}  // namespace

int main() {
  signal(SIGPIPE, SIG_IGN);
  if (!std::filesystem::exists(kTestsvc)) {
    std::printf("bench_runtime: %s not built\n", kTestsvc.c_str());
    return 1;
  }
  Bench b;
  bench_spawn(b);
  bench_readiness(b);
  bench_probe_cpu(b);
  return 0;
}
