// Prober threshold semantics against a real loopback listener and real exec commands.
#include <chrono>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include "healthcheck/probe.h"

using namespace sluice;
using namespace sluice::healthcheck;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

bool run_until(asio::io_context& io, const std::function<bool()>& pred,
               std::chrono::milliseconds timeout = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();  // it stops whenever it runs out of work
    io.run_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("thresholds: healthy after successThreshold - unhealthy after failureThreshold") {
  asio::io_context io;
  auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(
      io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const int port = acceptor->local_endpoint().port();
  manifests::Probe probe;
  probe.tcp_socket = manifests::TcpSocketAction{"http"};
  probe.period = Duration(20);
  probe.timeout = Duration(200);
  probe.success_threshold = 3;
  probe.failure_threshold = 2;
  ProbeTarget target;
  target.ports = {{"http", port}};

  int flips = 0;
  std::optional<int> attempts_when_healthy, attempts_when_unhealthy;
  auto prober =
      Prober::start(io.get_executor(), probe, target, false, [&](const Prober& p, bool flipped) {
        if (!flipped) return;
        ++flips;
        if (p.healthy())
          attempts_when_healthy = p.attempts();
        else
          attempts_when_unhealthy = p.attempts();
      });
  REQUIRE(run_until(io, [&] { return attempts_when_healthy.has_value(); }));
  CHECK(*attempts_when_healthy == 3);
  const int before = prober->attempts();
  acceptor.reset();  // connections are refused from now on
  REQUIRE(run_until(io, [&] { return attempts_when_unhealthy.has_value(); }));
  CHECK(*attempts_when_unhealthy == before + 2);
  CHECK(flips == 2);
  CHECK_FALSE(prober->last_outcome().ok);
  prober->stop();
  const int stopped_at = prober->attempts();
  io.run_for(100ms);
  CHECK(prober->attempts() == stopped_at);
}

TEST_CASE("exec probes: exit 0 passes - non-zero fails - a hang times out") {
  asio::io_context io;
  ProbeTarget target;
  target.working_dir = "/";
  target.env = {"PATH=/usr/bin:/bin"};
  struct Case {
    std::vector<std::string> command;
    bool ok;
  };
  for (const auto& c : std::vector<Case>{{{"true"}, true},
                                         {{"false"}, false},
                                         {{"sleep", "5"}, false},
                                         {{"/nonexistent/x"}, false}}) {
    manifests::Probe probe;
    probe.exec = manifests::ExecAction{c.command};
    probe.timeout = Duration(200);
    std::optional<ProbeOutcome> outcome;
    const auto start = std::chrono::steady_clock::now();
    async_probe_once(io.get_executor(), probe, target, [&](ProbeOutcome o) { outcome = o; });
    REQUIRE(run_until(io, [&] { return outcome.has_value(); }));
    INFO(c.command[0] << ": " << outcome->message);
    CHECK(outcome->ok == c.ok);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }
}

TEST_CASE("http probes only target loopback") {
  asio::io_context io;
  manifests::Probe probe;
  probe.http_get = manifests::HttpGetAction{"/", "80", "10.1.2.3", {}};
  std::optional<ProbeOutcome> outcome;
  async_probe_once(io.get_executor(), probe, {}, [&](ProbeOutcome o) { outcome = o; });
  REQUIRE(run_until(io, [&] { return outcome.has_value(); }));
  CHECK_FALSE(outcome->ok);
  CHECK(outcome->message.find("not a loopback") != std::string::npos);
}
