// The real ApiServer on a kernel-assigned loopback port, with real HTTP clients (Beast) against
// the scripted fake facade: keep-alive and pipelining, SSE with Last-Event-ID and heartbeats,
// slowloris timeout, body limit, graceful shutdown.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

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

// Holds verb callbacks until the test releases them: an in-flight request during shutdown.
class HoldingFacade final : public controller::ControlFacade {
 public:
  explicit HoldingFacade(FakeFacade& inner) : inner_(inner) {}
  json list_rollouts() const override { return inner_.list_rollouts(); }
  std::optional<json> get_rollout(const std::string& n) const override {
    return inner_.get_rollout(n);
  }
  std::optional<json> history(const std::string& n) const override { return inner_.history(n); }
  json events(const std::string& r, uint64_t a) const override { return inner_.events(r, a); }
  std::unique_ptr<controller::Subscription> subscribe(const std::string& r,
                                                      controller::EventCallback cb) override {
    return inner_.subscribe(r, std::move(cb));
  }
  void command(const controller::VerbRequest& req, controller::VerbCallback done) override {
    std::lock_guard lock(mu_);
    held_request_ = req;
    held_ = std::move(done);
  }
  json source() const override { return inner_.source(); }
  void sync(std::function<void(Result<json>)> done) override { inner_.sync(std::move(done)); }
  void request_refresh(const std::string& r) override { inner_.request_refresh(r); }
  bool ready() const override { return true; }
  std::string metrics_text() const override { return inner_.metrics_text(); }

  bool holding() {
    std::lock_guard lock(mu_);
    return static_cast<bool>(held_);
  }
  void release() {
    controller::VerbCallback cb;
    controller::VerbRequest req;
    {
      std::lock_guard lock(mu_);
      cb = std::move(held_);
      req = held_request_;
    }
    inner_.command(req, std::move(cb));
  }

 private:
  FakeFacade& inner_;
  std::mutex mu_;
  controller::VerbRequest held_request_;
  controller::VerbCallback held_;
};

struct ServerFixture {
  FakeFacade facade;
  Authenticator auth;
  boost::asio::io_context ioc;
  std::unique_ptr<ApiServer> server;
  std::thread thread;
  unsigned short port = 0;

  explicit ServerFixture(ServerOptions options = {},
                         controller::ControlFacade* facade_override = nullptr) {
    facade.add_canary("orders-api", "Paused", 1);
    facade.add_canary("inventory", "Healthy", 0);
    options.listen = "127.0.0.1:0";
    server = std::make_unique<ApiServer>(
        ioc, facade_override ? *facade_override : static_cast<controller::ControlFacade&>(facade),
        auth, WebhookSecrets{}, options);
    auto bound = server->start();
    REQUIRE(bound.is_ok());
    port = bound->port();
    thread = std::thread([this] { ioc.run(); });
  }

  void stop() {
    if (!thread.joinable()) return;
    std::atomic<bool> done{false};
    server->shutdown(Duration(1000), [&] { done = true; });
    for (int i = 0; i < 300 && !done; ++i) std::this_thread::sleep_for(10ms);
    ioc.stop();
    thread.join();
  }

  ~ServerFixture() {
    stop();
    server.reset();
  }
};

}  // namespace

TEST_CASE("keep-alive: several requests on one connection, pipelined in one write",
          "[api][server]") {
  ServerFixture f;
  TestConnection c(f.port);
  REQUIRE(c.connected());
  REQUIRE_FALSE(c.write(http_get("/api/v1/rollouts/orders-api") + http_get("/healthz") +
                        http_get("/api/v1/rollouts/nope")));
  auto a = c.read_response();
  auto b = c.read_response();
  auto d = c.read_response();
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(d);
  CHECK(json::parse(a->body())["name"] == "orders-api");
  CHECK(b->result_int() == 200);
  CHECK(d->result_int() == 404);
}

TEST_CASE("a connection closes after max_requests_per_connection", "[api][server]") {
  ServerOptions options;
  options.max_requests_per_connection = 2;
  ServerFixture f(options);
  TestConnection c(f.port);
  REQUIRE_FALSE(c.write(http_get("/healthz") + http_get("/healthz") + http_get("/healthz")));
  auto first = c.read_response();
  auto second = c.read_response();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->keep_alive());
  CHECK_FALSE(second->keep_alive());
  CHECK(c.closed_within(2000ms));
}

TEST_CASE("SSE: Last-Event-ID replays later events, then live ones, without duplicates",
          "[api][sse]") {
  ServerFixture f;
  uint64_t e2 = f.facade.add_event("orders-api", "Note", "two");
  uint64_t e3 = f.facade.add_event("orders-api", "Note", "three");
  f.facade.add_event("inventory", "Note", "other rollout");
  TestConnection c(f.port);
  REQUIRE_FALSE(c.write(http_get("/api/v1/rollouts/orders-api/events?watch=1",
                                 "Last-Event-ID: " + std::to_string(e2) + "\r\n")));
  auto header = c.read_stream_header();
  REQUIRE(header);
  CHECK(header->result_int() == 200);
  CHECK((*header)[boost::beast::http::field::content_type] == "text/event-stream");
  REQUIRE(c.read_until("id: " + std::to_string(e3) + "\n", 3000ms));
  CHECK(c.text().find("id: " + std::to_string(e2) + "\n") == std::string::npos);
  CHECK(c.text().find("other rollout") == std::string::npos);

  // Live: wait until the server subscribed, then publish.
  for (int i = 0; i < 200 && f.facade.subscriber_count() == 0; ++i)
    std::this_thread::sleep_for(5ms);
  uint64_t e5 = f.facade.add_event("orders-api", "Note", "live");
  REQUIRE(c.read_until("id: " + std::to_string(e5) + "\n", 3000ms));
  auto pos = c.text().find("data: ", c.text().find("id: " + std::to_string(e5)));
  REQUIRE(pos != std::string::npos);
  auto line_end = c.text().find('\n', pos);
  json event = json::parse(c.text().substr(pos + 6, line_end - pos - 6));
  CHECK(event["message"] == "live");
  CHECK(event["id"] == e5);
  size_t count = 0;
  for (size_t p = 0;
       (p = c.text().find("id: " + std::to_string(e3) + "\n", p)) != std::string::npos; ++p)
    ++count;
  CHECK(count == 1);
}

TEST_CASE("SSE: all-rollouts stream and heartbeats, unsubscribes on disconnect", "[api][sse]") {
  ServerOptions options;
  options.heartbeat_interval = Duration(100);
  ServerFixture f(options);
  {
    TestConnection c(f.port);
    REQUIRE_FALSE(c.write(http_get("/api/v1/rollouts?watch=1")));
    REQUIRE(c.read_stream_header());
    REQUIRE(c.read_until(": heartbeat\n\n", 3000ms));
    CHECK(c.text().find("\"rollout\":\"inventory\"") != std::string::npos);
    CHECK(c.text().find("\"rollout\":\"orders-api\"") != std::string::npos);
    CHECK(f.facade.subscriber_count() == 1);
  }
  for (int i = 0; i < 300 && f.facade.subscriber_count() != 0; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(f.facade.subscriber_count() == 0);
}

TEST_CASE("slowloris: a request that does not finish in time is dropped", "[api][server]") {
  ServerOptions options;
  options.request_timeout = Duration(300);
  ServerFixture f(options);
  TestConnection c(f.port);
  REQUIRE_FALSE(c.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
  CHECK(c.closed_within(5000ms));
  // Other clients are still served.
  TestConnection ok(f.port);
  REQUIRE_FALSE(ok.write(http_get("/healthz")));
  auto res = ok.read_response();
  REQUIRE(res);
  CHECK(res->result_int() == 200);
}

TEST_CASE("body over the limit: 413 and the connection closes", "[api][server]") {
  ServerOptions options;
  options.body_limit = 1024;
  ServerFixture f(options);
  TestConnection c(f.port);
  std::string body(4096, 'x');
  REQUIRE_FALSE(
      c.write("POST /api/v1/webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Content-Length: 4096\r\n\r\n" +
              body));
  auto res = c.read_response();
  REQUIRE(res);
  CHECK(res->result_int() == 413);
  CHECK(json::parse(res->body())["code"] == "payload_too_large");
  CHECK(c.closed_within(2000ms));
}

TEST_CASE("graceful shutdown: in-flight verb completes, idle and streams close", "[api][server]") {
  FakeFacade inner;
  inner.add_canary("orders-api", "Paused", 1);
  HoldingFacade holding(inner);
  ServerFixture f({}, &holding);
  TestConnection idle(f.port);
  REQUIRE_FALSE(idle.write(http_get("/healthz")));
  REQUIRE(idle.read_response());
  TestConnection stream(f.port);
  REQUIRE_FALSE(stream.write(http_get("/api/v1/rollouts?watch=1")));
  REQUIRE(stream.read_stream_header());
  TestConnection busy(f.port);
  REQUIRE_FALSE(
      busy.write("POST /api/v1/rollouts/orders-api/promote HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Length: 0\r\n\r\n"));
  for (int i = 0; i < 300 && !holding.holding(); ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(holding.holding());

  std::atomic<bool> done{false};
  f.server->shutdown(Duration(3000), [&] { done = true; });
  CHECK(idle.closed_within(2000ms));
  CHECK(stream.closed_within(2000ms));
  CHECK_FALSE(done.load());  // still waiting for the in-flight request
  holding.release();
  auto res = busy.read_response();
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK_FALSE(res->keep_alive());
  for (int i = 0; i < 300 && !done; ++i) std::this_thread::sleep_for(10ms);
  CHECK(done.load());
  TestConnection late(f.port);
  CHECK_FALSE(late.connected());
}

TEST_CASE("without tokens the server refuses non-loopback addresses", "[api][server]") {
  FakeFacade facade;
  Authenticator auth;
  boost::asio::io_context ioc;
  ServerOptions options;
  options.listen = "0.0.0.0:0";
  ApiServer server(ioc, facade, auth, WebhookSecrets{}, options);
  auto bound = server.start();
  REQUIRE_FALSE(bound.is_ok());
  CHECK(bound.status().code() == StatusCode::kFailedPrecondition);
  CHECK(parse_listen_address("[::1]:7070").is_ok());
  CHECK(parse_listen_address("localhost:80")->address().is_loopback());
  CHECK_FALSE(parse_listen_address("127.0.0.1:99999").is_ok());
  CHECK_FALSE(parse_listen_address("nonsense").is_ok());
}

TEST_CASE("HEAD answers the GET headers without a body", "[api][server]") {
  ServerFixture f;
  TestConnection c(f.port);
  REQUIRE_FALSE(c.write("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto head = c.read_stream_header();
  REQUIRE(head);
  CHECK(head->result_int() == 200);
  CHECK((*head)[boost::beast::http::field::content_length] != "0");
  CHECK(c.text().empty());  // no body bytes followed the header
  REQUIRE_FALSE(c.write(http_get("/healthz")));
  auto get = c.read_response();
  REQUIRE(get);
  CHECK(json::parse(get->body())["status"] == "ok");
}
