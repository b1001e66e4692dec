// bench_api: latency and throughput of GET /api/v1/rollouts/{name}.
//
// 1. wrk (if installed): maximum rps and its latency distribution, 4 s, 16 connections.
// 2. A paced client: 1,000 requests/s for 4 s over 4 keep-alive connections, latency measured
//    from each request's scheduled send time (no coordinated omission). Goal: p99 <= 5 ms, and
//    "met" only when every scheduled request was answered 2xx.
// 3. The same paced run against /healthz, the cheapest route, as the in-run peer (ratio).
// Everything on 127.0.0.1; every loop is bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "api/server.h"
#include "bench/support/paced_client.h"
#include "fake_facade.h"

extern char** environ;

namespace {

using sluice::bench::Latencies;
using sluice::bench::paced_run;

// Runs wrk and returns its stdout ("" when wrk is not available).
std::string run_wrk(unsigned short port, const std::string& target) {
  std::string url = "http://127.0.0.1:" + std::to_string(port) + target;
  std::vector<std::string> argv = {"/usr/bin/wrk", "-t2", "-c16", "-d4s", "--latency", url};
  if (access(argv[0].c_str(), X_OK) != 0) return "";
  int fds[2];
  if (pipe(fds) != 0) return "";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    int status = 0;
    waitpid(pid, &status, 0);
  }
  close(fds[0]);
  return out;
}

}  // namespace

int main() {
  sluice::testing::FakeFacade facade;
  for (int i = 0; i < 100; ++i) facade.add_canary("svc-" + std::to_string(i), "Progressing", 2);
  sluice::api::Authenticator auth;
  boost::asio::io_context ioc;
  sluice::api::ServerOptions options;
  options.listen = "127.0.0.1:0";
  sluice::api::ApiServer server(ioc, facade, auth, {}, options);
  auto bound = server.start();
  if (!bound.is_ok()) {
    std::fprintf(stderr, "bench_api: %s\n", bound.status().message().c_str());
    return 1;
  }
  const unsigned short port = bound->port();
  std::thread io([&] { ioc.run(); });
  const std::string target = "/api/v1/rollouts/svc-42";

  std::string wrk = run_wrk(port, target);
  // "Requests/sec:  12345.67" and the "99%    1.23ms" line of --latency.
  auto field_after = [&](const std::string& key) -> std::string {
    size_t at = wrk.find(key);
    if (at == std::string::npos) return "";
    at += key.size();
    while (at < wrk.size() && wrk[at] == ' ') ++at;
    size_t end = wrk.find_first_of(" \n", at);
    return wrk.substr(at, end == std::string::npos ? std::string::npos : end - at);
  };
  std::string rps = field_after("Requests/sec:");
  if (!rps.empty()) {
    std::string p99 = field_after(" 99%");
    std::printf("bench_api: wrk GET %s (100 rollouts, 16 conns): %s rps max, p99 %s\n",
                target.c_str(), rps.c_str(), p99.empty() ? "?" : p99.c_str());
    // wrk counts these apart from its rate; an honest max-rps figure names them.
    for (const std::string key : {"Non-2xx or 3xx responses:", "Socket errors:"}) {
      const size_t at = wrk.find(key);
      if (at == std::string::npos) continue;
      const size_t end = wrk.find('\n', at);
      const std::string line = wrk.substr(at, end == std::string::npos ? end : end - at);
      std::printf("bench_api: wrk %s\n", line.c_str());
    }
  } else {
    std::printf("bench_api: wrk not available; skipped the max-rps run\n");
  }

  Latencies rollout = paced_run(port, target, 1000, 4, 4);
  Latencies health = paced_run(port, "/healthz", 1000, 4, 4);
  double r50 = rollout.percentile(0.50), r99 = rollout.percentile(0.99);
  double h50 = health.percentile(0.50), h99 = health.percentile(0.99);
  // "met" needs every request answered 2xx: a percentile of the answered ones alone would hide
  // failures (and is 0 when nothing was answered).
  const char* verdict = !rollout.complete() ? "NOT met (requests failed)"
                        : r99 <= 5.0         ? "met"
                                             : "NOT met";
  std::printf(
      "bench_api: paced 1000 rps GET %s: median %.3f ms, p99 %.3f ms (%zu of %d answered 2xx, "
      "%d errors) goal p99 <= 5 ms: %s\n",
      target.c_str(), r50, r99, rollout.ms.size(), rollout.asked, rollout.errors, verdict);
  if (!health.complete())
    std::printf("bench_api: peer run incomplete: %zu of %d answered, %d errors\n",
                health.ms.size(), health.asked, health.errors);
  std::printf("bench_api: peer paced 1000 rps GET /healthz: median %.3f ms, p99 %.3f ms\n", h50,
              h99);
  std::printf("bench_api: ratio rollout/healthz: median %.2fx, p99 %.2fx\n",
              h50 > 0 ? r50 / h50 : 0.0, h99 > 0 ? r99 / h99 : 0.0);

  server.shutdown(sluice::Duration(1000), [&] { ioc.stop(); });
  io.join();
  return 0;
}
