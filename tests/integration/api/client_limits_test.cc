// The API server's per-client and per-stream-type limits and the health reserve (issue 19: 1,030
// SSE watchers with one viewer token once locked everyone out, /healthz included). A real
// ApiServer on a kernel-assigned loopback port, real sockets, the scripted fake facade.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "api/server.h"
#include "fake_facade.h"
#include "test_support.h"

using namespace sluice;
using namespace sluice::api;
using nlohmann::json;
using sluice::testing::FakeFacade;
using sluice::testing::http_get;
using sluice::testing::TestConnection;
using namespace std::chrono_literals;

namespace {

const std::string kAliceToken = "alice-viewer-token-0123456789";
const std::string kBobToken = "bob-viewer-token-0123456789ab";

std::string bearer(const std::string& token) { return "Authorization: Bearer " + token + "\r\n"; }

struct LimitsFixture {
  FakeFacade facade;
  Authenticator auth;
  boost::asio::io_context ioc;
  std::unique_ptr<ApiServer> server;
  std::thread thread;
  unsigned short port = 0;

  explicit LimitsFixture(ServerOptions options) {
    facade.add_canary("orders-api", "Paused", 1);
    REQUIRE(auth.add_token(kAliceToken, Role::kViewer, "alice").is_ok());
    REQUIRE(auth.add_token(kBobToken, Role::kViewer, "bob").is_ok());
    options.listen = "127.0.0.1:0";
    server = std::make_unique<ApiServer>(ioc, facade, auth, WebhookSecrets{}, options);
    auto bound = server->start();
    REQUIRE(bound.is_ok());
    port = bound->port();
    thread = std::thread([this] { ioc.run(); });
  }

  ~LimitsFixture() {
    std::atomic<bool> done{false};
    server->shutdown(Duration(1000), [&] { done = true; });
    for (int i = 0; i < 300 && !done; ++i) std::this_thread::sleep_for(10ms);
    ioc.stop();
    thread.join();
    server.reset();
  }

  // Opens an event stream; the connection is returned whatever the answer, header read.
  std::unique_ptr<TestConnection> watch(const std::string& target, const std::string& token,
                                        int* status) {
    auto c = std::make_unique<TestConnection>(port);
    REQUIRE(c->connected());
    REQUIRE_FALSE(c->write(http_get(target, bearer(token))));
    auto header = c->read_stream_header();
    *status = header ? header->result_int() : -1;
    return c;
  }

  // One request on a fresh connection.
  std::optional<sluice::testing::bhttp::response<sluice::testing::bhttp::string_body>> get(
      const std::string& target, const std::string& extra_headers = "") {
    TestConnection c(port);
    if (!c.connected()) return std::nullopt;
    if (c.write(http_get(target, extra_headers))) return std::nullopt;
    return c.read_response();
  }
};

void check_too_many(const std::optional<sluice::testing::bhttp::response<
                        sluice::testing::bhttp::string_body>>& res,
                    const std::string& code) {
  REQUIRE(res);
  CHECK(res->result_int() == 429);
  CHECK((*res)[boost::beast::http::field::retry_after] == "1");
  auto body = json::parse(res->body(), nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body["code"] == code);
  CHECK(body["error"].is_string());
}

void check_health_paths_answer(LimitsFixture& f) {
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    INFO(path);
    auto res = f.get(path);
    REQUIRE(res);
    CHECK(res->result_int() == 200);
  }
}

}  // namespace

TEST_CASE("limits: event streams over the per-client cap get 429, other clients and health "
          "paths are still served",
          "[api][limits]") {
  ServerOptions options;
  options.max_streams_per_client = 3;
  LimitsFixture f(options);
  const std::string events = "/api/v1/rollouts/orders-api/events?watch=1";

  std::vector<std::unique_ptr<TestConnection>> alice;
  for (int i = 0; i < 3; ++i) {
    int status = 0;
    alice.push_back(f.watch(events, kAliceToken, &status));
    REQUIRE(status == 200);
  }
  // The fourth of the same token, even from a new connection: 429 with the JSON error body.
  {
    TestConnection c(f.port);
    REQUIRE_FALSE(c.write(http_get(events, bearer(kAliceToken))));
    check_too_many(c.read_response(), "too_many_streams");
    CHECK(c.closed_within(5000ms));
  }
  // Another client still gets its stream, and so does the same client for the other stream type.
  int status = 0;
  auto bob = f.watch(events, kBobToken, &status);
  CHECK(status == 200);
  auto alice_all = f.watch("/api/v1/rollouts?watch=1", kAliceToken, &status);
  CHECK(status == 200);
  check_health_paths_answer(f);

  // A stream that ends gives its place back.
  alice.pop_back();
  bool reopened = false;
  for (int i = 0; i < 100 && !reopened; ++i) {
    auto again = f.watch(events, kAliceToken, &status);
    reopened = status == 200;
    if (!reopened) std::this_thread::sleep_for(20ms);
  }
  CHECK(reopened);
}

TEST_CASE("limits: a stream type's total cap holds across clients", "[api][limits]") {
  ServerOptions options;
  options.max_streams = 2;
  LimitsFixture f(options);
  int status = 0;
  auto a = f.watch("/api/v1/rollouts?watch=1", kAliceToken, &status);
  REQUIRE(status == 200);
  auto b = f.watch("/api/v1/rollouts?watch=1", kBobToken, &status);
  REQUIRE(status == 200);
  TestConnection c(f.port);
  REQUIRE_FALSE(c.write(http_get("/api/v1/rollouts?watch=1", bearer(kBobToken))));
  check_too_many(c.read_response(), "too_many_streams");
  check_health_paths_answer(f);
}

TEST_CASE("limits: connections per client are counted by token, else by address",
          "[api][limits]") {
  ServerOptions options;
  options.max_connections_per_client = 2;
  LimitsFixture f(options);
  // Two keep-alive connections of alice: after their first request they count under her token.
  std::vector<std::unique_ptr<TestConnection>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<TestConnection>(f.port));
    REQUIRE_FALSE(held.back()->write(http_get("/api/v1/rollouts", bearer(kAliceToken))));
    auto res = held.back()->read_response();
    REQUIRE(res);
    REQUIRE(res->result_int() == 200);
  }
  {
    TestConnection c(f.port);
    REQUIRE_FALSE(c.write(http_get("/api/v1/rollouts", bearer(kAliceToken))));
    check_too_many(c.read_response(), "too_many_connections");
  }
  // Bob (another token from the same address) and the health paths are served.
  auto bob = f.get("/api/v1/rollouts", bearer(kBobToken));
  REQUIRE(bob);
  CHECK(bob->result_int() == 200);
  check_health_paths_answer(f);
  // Without a valid token the client is its address: two idle connections fill it, the third
  // is served the health paths only.
  TestConnection idle1(f.port), idle2(f.port);
  for (int i = 0; i < 300 && f.server->open_sessions() != 4; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(f.server->open_sessions() == 4);
  check_too_many(f.get("/api/v1/rollouts"), "too_many_connections");
  check_too_many(f.get("/api/v1/rollouts", bearer("not-a-valid-token-at-all")),
                 "too_many_connections");
  check_health_paths_answer(f);
}

TEST_CASE("limits: with every connection taken, the reserve answers /healthz, /readyz and "
          "/metrics only, and a full reserve is refused at accept",
          "[api][limits]") {
  ServerOptions options;
  options.max_connections = 4;
  options.health_reserve = 2;
  options.reserve_request_timeout = Duration(300);
  LimitsFixture f(options);
  std::vector<std::unique_ptr<TestConnection>> streams;
  for (const auto& token : {kAliceToken, kAliceToken, kBobToken, kBobToken}) {
    int status = 0;
    streams.push_back(f.watch("/api/v1/rollouts?watch=1", token, &status));
    REQUIRE(status == 200);
  }
  check_too_many(f.get("/api/v1/rollouts", bearer(kBobToken)), "too_many_connections");
  check_health_paths_answer(f);

  // Two idle connections take the whole reserve: the next one is answered 429 at accept.
  for (int i = 0; i < 300 && f.server->open_sessions() != 4; ++i) std::this_thread::sleep_for(10ms);
  auto idle1 = std::make_unique<TestConnection>(f.port);
  auto idle2 = std::make_unique<TestConnection>(f.port);
  for (int i = 0; i < 300 && f.server->open_sessions() != 6; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(f.server->open_sessions() == 6);
  {
    TestConnection refused(f.port);
    REQUIRE(refused.connected());
    check_too_many(refused.read_response(), "too_many_connections");
  }
  // Idle reserve connections are dropped after reserve_request_timeout; health answers again.
  CHECK(idle1->closed_within(5000ms));
  CHECK(idle2->closed_within(5000ms));
  for (int i = 0; i < 300 && f.server->open_sessions() > 4; ++i) std::this_thread::sleep_for(10ms);
  check_health_paths_answer(f);
}
