// bench_analysis: 100 concurrent analysis measurements against a local Prometheus.
//
// Starts a real Prometheus (scraping itself every second) on a loopback port, then
//  1. runs rounds of 100 concurrent prometheus-provider measurements of a realistic query and,
//     as the peer in the same process, of the trivial scalar query `1`; prints the median and
//     p99 latency of each and their ratio;
//  2. runs 100 concurrent AnalysisRuns (count 5, interval 200ms) through AnalysisRunnerImpl and
//     prints the wall time and the CPU this process used.
// Bounded: every wait has a deadline; total < 60 s.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "healthcheck/analysis/analysis_runner.h"
#include "healthcheck/analysis/provider.h"

extern char** environ;

using namespace sluice;
using namespace sluice::analysis;
using steady = std::chrono::steady_clock;

namespace {

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

manifests::Metric prom_metric(const std::string& address, const std::string& query) {
  manifests::PrometheusMetric p;
  p.address = address;
  p.query = query;
  p.timeout = Duration{5000};
  manifests::Metric m;
  m.name = "m";
  m.provider = p;
  return m;
}

// Rounds of `concurrency` simultaneous measurements; returns latencies in ms (errors counted).
std::vector<double> measure_rounds(Provider& provider, boost::asio::io_context& io,
                                   const manifests::Metric& metric, int rounds, int concurrency,
                                   int* errors) {
  std::vector<double> latencies;
  MeasureContext ctx;
  ctx.run = "bench";
  for (int r = 0; r < rounds; ++r) {
    int pending = concurrency;
    for (int i = 0; i < concurrency; ++i) {
      const auto t0 = steady::now();
      provider.measure(metric, ctx, [&, t0](Measurement m) {
        latencies.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
        if (m.phase == AnalysisPhase::kError) ++*errors;
        --pending;
      });
    }
    const auto deadline = steady::now() + std::chrono::seconds(10);
    io.restart();
    while (pending > 0 && steady::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
  }
  return latencies;
}

}  // namespace

int main() {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/sluice-bench-prom-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const int port = free_port();
  const std::string address = "http://127.0.0.1:" + std::to_string(port);
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n"
      << "    static_configs:\n      - targets: ['127.0.0.1:" << port << "']\n";
  std::vector<std::string> args = {"prometheus", "--config.file=" + dir + "/prometheus.yml",
                                   "--storage.tsdb.path=" + dir + "/data",
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, (dir + "/log").c_str(), O_WRONLY | O_CREAT, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  if (posix_spawnp(&pid, "prometheus", &fa, nullptr, argv.data(), environ) != 0) {
    std::printf("bench_analysis: cannot start prometheus\n");
    return 1;
  }
  posix_spawn_file_actions_destroy(&fa);

  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  ProviderEnv env;
  env.executor = io.get_executor();
  env.clock = &SystemClock::instance();
  auto provider = ProviderRegistry::with_defaults().create("prometheus", env);
  const std::string query = "sum by (handler) (rate(prometheus_http_requests_total[30s]))";
  // Wait (bounded) for Prometheus to answer and to have scraped itself twice.
  int warm_errors = 0;
  bool ready = false;
  for (int i = 0; i < 100 && !ready; ++i) {
    warm_errors = 0;
    auto l = measure_rounds(*provider, io, prom_metric(address, "up"), 1, 1, &warm_errors);
    ready = warm_errors == 0;
    if (!ready) usleep(200'000);
  }
  usleep(2'500'000);
  int errors = 0, peer_errors = 0;
  const double cpu0 = cpu_seconds();
  auto real = measure_rounds(*provider, io, prom_metric(address, query), 20, 100, &errors);
  const double cpu1 = cpu_seconds();
  auto peer = measure_rounds(*provider, io, prom_metric(address, "1"), 20, 100, &peer_errors);

  // 100 concurrent AnalysisRuns through the runner.
  guard.reset();
  AnalysisRunnerImpl runner(io.get_executor(), SystemClock::instance(), nullptr);
  const double cpu2 = cpu_seconds();
  const auto t0 = steady::now();
  for (int i = 0; i < 100; ++i) {
    AnalysisRunSpec spec;
    spec.name = "run-" + std::to_string(i);
    spec.rollout = "bench";
    manifests::AnalysisTemplate t;
    auto m = prom_metric(address, query);
    m.interval = Duration{200};
    m.count = 5;
    m.success_condition = "all(result, x => x >= 0)";
    t.spec.metrics = {m};
    spec.templates = {t};
    runner.start(spec);
  }
  int done = 0, successful = 0;
  const auto deadline = steady::now() + std::chrono::seconds(30);
  while (done < 100 && steady::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    done = successful = 0;
    for (int i = 0; i < 100; ++i) {
      auto s = runner.status("run-" + std::to_string(i));
      if (s && is_terminal(s->phase)) {
        ++done;
        successful += s->phase == AnalysisPhase::kSuccessful;
      }
    }
  }
  const double wall = std::chrono::duration<double>(steady::now() - t0).count();
  const double cpu3 = cpu_seconds();

  std::printf("bench_analysis: 100 concurrent prometheus measurements x 20 rounds\n");
  std::printf("  query %-40s median %.2f ms  p99 %.2f ms  errors %d  client CPU %.3f s\n",
              "sum by (handler)(rate(...[30s]))", percentile(real, 0.5), percentile(real, 0.99),
              errors, cpu1 - cpu0);
  std::printf("  peer  %-40s median %.2f ms  p99 %.2f ms  errors %d\n", "1 (scalar literal)",
              percentile(peer, 0.5), percentile(peer, 0.99), peer_errors);
  std::printf("  ratio real/peer median %.2f\n",
              percentile(peer, 0.5) > 0 ? percentile(real, 0.5) / percentile(peer, 0.5) : 0.0);
  std::printf(
      "  runner: 100 runs x 5 measurements (interval 200ms): %d/100 done, %d successful, "
      "wall %.2f s, client CPU %.3f s\n",
      done, successful, wall, cpu3 - cpu2);

  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 250 && waitpid(pid, &status, WNOHANG) != pid; ++i) usleep(20'000);
  kill(pid, SIGKILL);
  waitpid(pid, &status, WNOHANG);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return done == 100 ? 0 : 1;
}
