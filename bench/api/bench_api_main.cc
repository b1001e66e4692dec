// bench_api: latency and throughput of GET /api/v1/rollouts/{name}.
//
// 1. wrk (if installed): maximum rps and its latency distribution, 4 s, 16 connections.
// 2. A paced client: 1,000 requests/s for 4 s over 4 keep-alive connections, latency measured
//    from each request's scheduled send time (no coordinated omission). Goal: p99 <= 5 ms.
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
#include "fake_facade.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

struct Latencies {
  std::vector<double> ms;
  int errors = 0;
  double percentile(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    size_t i = std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())));
    return ms[i];
  }
};

int connect_loopback(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads one response with a Content-Length body; false on error.
bool read_response(int fd, std::string& buf) {
  for (;;) {
    size_t header_end = buf.find("\r\n\r\n");
    if (header_end != std::string::npos) {
      size_t cl = buf.find("Content-Length: ");
      if (cl == std::string::npos || cl > header_end) return false;
      size_t len = std::stoul(buf.substr(cl + 16));
      if (buf.size() >= header_end + 4 + len) {
        buf.erase(0, header_end + 4 + len);
        return true;
      }
    }
    char chunk[16384];
    ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

Latencies paced_run(unsigned short port, const std::string& target, int rate, int seconds,
                    int connections) {
  std::vector<Latencies> per(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const int per_conn = rate * seconds / connections;
  const auto interval = std::chrono::microseconds(1'000'000 * connections / rate);
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      Latencies& out = per[static_cast<size_t>(c)];
      int fd = connect_loopback(port);
      if (fd < 0) {
        out.errors = per_conn;
        return;
      }
      const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
      std::string buf;
      // Offset connections so that sends interleave evenly.
      auto first = start + interval * c / connections;
      for (int i = 0; i < per_conn; ++i) {
        auto scheduled = first + interval * i;
        std::this_thread::sleep_until(scheduled);
        if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()) ||
            !read_response(fd, buf)) {
          ++out.errors;
          close(fd);
          fd = connect_loopback(port);
          if (fd < 0) return;
          continue;
        }
        out.ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count());
      }
      close(fd);
    });
  }
  for (auto& t : threads) t.join();
  Latencies all;
  for (auto& l : per) {
    all.ms.insert(all.ms.end(), l.ms.begin(), l.ms.end());
    all.errors += l.errors;
  }
  return all;
}

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
  } else {
    std::printf("bench_api: wrk not available; skipped the max-rps run\n");
  }

  Latencies rollout = paced_run(port, target, 1000, 4, 4);
  Latencies health = paced_run(port, "/healthz", 1000, 4, 4);
  double r50 = rollout.percentile(0.50), r99 = rollout.percentile(0.99);
  double h50 = health.percentile(0.50), h99 = health.percentile(0.99);
  std::printf(
      "bench_api: paced 1000 rps GET %s: median %.3f ms, p99 %.3f ms (%zu ok, %d errors) "
      "goal p99 <= 5 ms: %s\n",
      target.c_str(), r50, r99, rollout.ms.size(), rollout.errors, r99 <= 5.0 ? "met" : "NOT met");
  std::printf("bench_api: peer paced 1000 rps GET /healthz: median %.3f ms, p99 %.3f ms\n", h50,
              h99);
  std::printf("bench_api: ratio rollout/healthz: median %.2fx, p99 %.2fx\n",
              h50 > 0 ? r50 / h50 : 0.0, h99 > 0 ? r99 / h99 : 0.0);

  server.shutdown(sluice::Duration(1000), [&] { ioc.stop(); });
  io.join();
  return 0;
}
