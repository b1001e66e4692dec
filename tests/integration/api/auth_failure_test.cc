// Failed authentication against the real ApiServer (issue 19, "Security"): logged with the
// client's address, at most one line per address per window, never with the token.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "api/server.h"
#include "fake_facade.h"
#include "test_support.h"

using namespace sluice;
using namespace sluice::api;
using sluice::testing::FakeFacade;
using sluice::testing::TestConnection;
using namespace std::chrono_literals;

TEST_CASE("failed authentication is logged once per client address per window, without the token",
          "[api][server][security]") {
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("auth-failure-test", ring));
  {
    const std::string valid = "a-valid-viewer-token-0123456789";
    const std::string wrong = "wrong-token-9f8e7d6c5b4a39281706";
    FakeFacade facade;
    Authenticator auth;
    REQUIRE(auth.add_token(valid, Role::kViewer, "viewer").is_ok());
    boost::asio::io_context ioc;
    ApiServer server(ioc, facade, auth, WebhookSecrets{}, ServerOptions{});
    auto bound = server.start();
    REQUIRE(bound.is_ok());
    std::thread thread([&] { ioc.run(); });
    const std::string host = "127.0.0.1:" + std::to_string(bound->port());
    auto get = [&](const std::string& token) {
      TestConnection c(bound->port());
      REQUIRE(c.connected());
      REQUIRE_FALSE(c.write("GET /api/v1/rollouts HTTP/1.1\r\nHost: " + host +
                            "\r\nAuthorization: Bearer " + token + "\r\n\r\n"));
      auto res = c.read_response();
      REQUIRE(res);
      return res->result_int();
    };
    for (int i = 0; i < 4; ++i) CHECK(get(wrong) == 401);
    CHECK(get(valid) == 200);

    std::atomic<bool> done{false};
    server.shutdown(Duration(1000), [&] { done = true; });
    for (int i = 0; i < 300 && !done; ++i) std::this_thread::sleep_for(10ms);
    ioc.stop();
    thread.join();

    std::vector<std::string> lines;
    for (const auto& line : ring->last_formatted())
      if (line.find("failed authentication") != std::string::npos) lines.push_back(line);
    REQUIRE(lines.size() == 1);  // the first failure; the next three wait for the window
    CHECK(lines[0].find("127.0.0.1") != std::string::npos);
    CHECK(lines[0].find("GET /api/v1/rollouts") != std::string::npos);
    for (const auto& line : ring->last_formatted()) CHECK(line.find(wrong) == std::string::npos);
  }
  spdlog::set_default_logger(previous);
}
