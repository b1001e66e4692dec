// The built-in router against real sockets and in-process Beast backends.
#include <atomic>
#include <cmath>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/integration/traffic/http_test_client.h"
#include "tests/support/echo_backend/echo_backend.h"
#include "traffic/builtin_router.h"

namespace sluice::traffic {
namespace {

using sluice::testing::EchoBackend;
using sluice::testing::HttpResult;
using sluice::testing::HttpTestClient;
using namespace std::chrono_literals;

Endpoint endpoint_of(const EchoBackend& b, std::string id) {
  return Endpoint{std::move(id), "127.0.0.1", b.port()};
}

RevisionRoute revision(int64_t rev, std::string role, int weight, std::vector<Endpoint> endpoints) {
  RevisionRoute r;
  r.revision = rev;
  r.version = "v" + std::to_string(rev);
  r.role = std::move(role);
  r.weight_percent = weight;
  r.ready_endpoints = std::move(endpoints);
  return r;
}

RouteTable two_revisions(const EchoBackend& stable, const EchoBackend& canary, int canary_weight) {
  RouteTable t;
  t.rollout = "orders";
  t.listen = "127.0.0.1:0";
  t.revisions.push_back(revision(1, "stable", 100 - canary_weight, {endpoint_of(stable, "s-0")}));
  t.revisions.push_back(revision(2, "canary", canary_weight, {endpoint_of(canary, "c-0")}));
  return t;
}

manifests::StringMatch exact(std::string v) {
  manifests::StringMatch m;
  m.exact = std::move(v);
  return m;
}
manifests::StringMatch prefix(std::string v) {
  manifests::StringMatch m;
  m.prefix = std::move(v);
  return m;
}
manifests::StringMatch regex(std::string v) {
  manifests::StringMatch m;
  m.regex = std::move(v);
  return m;
}

// Polls `cond` until it holds or `timeout` passes.
template <class F>
bool eventually(F cond, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return cond();
}

TEST_CASE("builtin router splits by weight within binomial bounds", "[traffic][builtin]") {
  EchoBackend v1("v1"), v2("v2");
  BuiltinRouter router(SystemClock::instance());
  REQUIRE(router.apply(two_revisions(v1, v2, 20)).is_ok());
  const uint16_t port = *router.listen_port("orders");
  HttpTestClient client(port);
  constexpr int kRequests = 2000;
  int canary = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto r = client.get("/");
    REQUIRE(!r.ec);
    REQUIRE(r.status == 200);
    REQUIRE(r.sluice_version == r.body);  // the version header names who answered
    if (r.body == "v2") ++canary;
  }
  const double expected = kRequests * 0.2;
  const double sigma = std::sqrt(kRequests * 0.2 * 0.8);
  CHECK(std::abs(canary - expected) < 5 * sigma);

  auto stats = router.stats("orders", 2, 60s);
  REQUIRE(stats);
  CHECK(stats->requests == static_cast<uint64_t>(canary));
  CHECK(stats->errors_5xx == 0);
  CHECK(stats->success_rate == 1.0);
}

TEST_CASE("builtin router reports a routed revision without requests as 0 requests, not unknown",
          "[traffic][builtin]") {
  // The builtin analysis provider turns "unknown" into a measurement Error and 0 requests into
  // NaN: a canary nobody sends traffic to must not pile up consecutive errors and abort.
  EchoBackend v1("v1"), v2("v2");
  BuiltinRouter router(SystemClock::instance());
  REQUIRE(router.apply(two_revisions(v1, v2, 0)).is_ok());
  auto idle = router.stats("orders", 2, 2s);
  REQUIRE(idle);
  CHECK(idle->requests == 0);
  CHECK(idle->errors_5xx == 0);
  CHECK(std::isnan(idle->success_rate));
  CHECK(std::isnan(idle->p99_ms));
  CHECK(idle->window == Duration(2000));
  CHECK(!router.stats("orders", 3, 2s));  // not in the table
  CHECK(!router.stats("payments", 1, 2s));

  HttpTestClient client(*router.listen_port("orders"));
  REQUIRE(client.get("/").body == "v1");
  auto seen = router.stats("orders", 1, 60s);
  REQUIRE(seen);
  CHECK(seen->requests == 1);
  CHECK(seen->success_rate == 1.0);
}

TEST_CASE("builtin router swaps weights atomically under load", "[traffic][builtin]") {
  EchoBackend v1("v1"), v2("v2");
  BuiltinRouter router(SystemClock::instance());
  REQUIRE(router.apply(two_revisions(v1, v2, 50)).is_ok());
  const uint16_t port = *router.listen_port("orders");

  // Three keep-alive clients hammer the door while 1,000 tables are swapped in; each swap waits
  // (bounded) until a response completed after it, so every table carried traffic.
  constexpr int kClients = 3;
  constexpr int kChanges = 1000;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failures{0}, served_v2{0}, reconnects{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      HttpTestClient client(port);
      for (int i = 0; i < 200'000 && !stop.load(); ++i) {  // bounded
        auto r = client.get("/");
        if (r.ec || r.status != 200 || r.body != r.sluice_version) {
          failures.fetch_add(1);
        } else {
          ok.fetch_add(1);
          if (r.body == "v2") served_v2.fetch_add(1);
        }
      }
      reconnects.fetch_add(client.connects() - 1);
    });
  }
  int changes = 0;
  for (int i = 0; i < kChanges; ++i) {
    REQUIRE(router.apply(two_revisions(v1, v2, (i * 37) % 101)).is_ok());
    ++changes;
    const int before = ok.load() + failures.load();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (ok.load() + failures.load() <= before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50us);
    }
    REQUIRE(ok.load() + failures.load() > before);
  }
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(changes == kChanges);
  CHECK(failures.load() == 0);
  CHECK(reconnects.load() == 0);  // no connection was reset or closed by a swap
  CHECK(ok.load() >= kChanges);
  CHECK(served_v2.load() > 0);
  CHECK(served_v2.load() < ok.load());
  CHECK(*router.listen_port("orders") == port);  // same door throughout
}

TEST_CASE("builtin router sends nothing to the canary after abort", "[traffic][builtin]") {
  EchoBackend v1("v1"), v2("v2");
  BuiltinRouter router(SystemClock::instance());
  REQUIRE(router.apply(two_revisions(v1, v2, 50)).is_ok());
  HttpTestClient client(*router.listen_port("orders"));
  for (int i = 0; i < 20; ++i) REQUIRE(client.get("/").status == 200);
  REQUIRE(router.apply(two_revisions(v1, v2, 0)).is_ok());
  const uint64_t canary_before = v2.requests();
  for (int i = 0; i < 200; ++i) {
    auto r = client.get("/");
    REQUIRE(r.status == 200);
    REQUIRE(r.body == "v1");
  }
  CHECK(v2.requests() == canary_before);
}

TEST_CASE("builtin router with two I/O threads serves every connection and stops with them open",
          "[traffic][builtin]") {
  // Two io_contexts, connections handed out in turn: every client is answered on its own
  // keep-alive connection, and destroying the router with idle sessions on both contexts ends
  // them cleanly (contexts are destroyed last-first; ASan checks the teardown).
  EchoBackend v1("v1"), v2("v2");
  ProxyOptions options;
  options.threads = 2;
  std::vector<std::unique_ptr<HttpTestClient>> clients;
  {
    BuiltinRouter router(SystemClock::instance(), options);
    REQUIRE(router.apply(two_revisions(v1, v2, 50)).is_ok());
    const uint16_t port = *router.listen_port("orders");
    for (int c = 0; c < 6; ++c) clients.push_back(std::make_unique<HttpTestClient>(port));
    int v2_answers = 0;
    for (int round = 0; round < 40; ++round) {
      for (auto& client : clients) {
        const HttpResult r = client->get("/");
        REQUIRE(r.status == 200);
        REQUIRE(r.sluice_version == r.body);
        REQUIRE(r.keep_alive);
        if (r.body == "v2") ++v2_answers;
      }
    }
    CHECK(v2_answers > 0);
    CHECK(v2_answers < 240);
    for (auto& client : clients) CHECK(client->connects() == 1);
  }
  // The router is gone: its connections were closed, nothing answers.
  CHECK(clients.front()->get("/").status == 0);
}

TEST_CASE("builtin router lets in-flight requests finish on a drained endpoint",
          "[traffic][builtin]") {
  EchoBackend a("v1"), b("v1");
  BuiltinRouter router(SystemClock::instance());
  RouteTable t;
  t.rollout = "orders";
  t.listen = "127.0.0.1:0";
  t.revisions.push_back(revision(1, "stable", 100, {endpoint_of(a, "a")}));
  REQUIRE(router.apply(t).is_ok());
  const uint16_t port = *router.listen_port("orders");

  HttpResult slow;
  std::thread in_flight([&] {
    HttpTestClient client(port);
    slow = client.get("/slow?ms=400");
  });
  REQUIRE(eventually([&] { return a.in_flight() == 1; }));
  router.drain_endpoint("orders", endpoint_of(a, "a"));
  t.revisions[0].ready_endpoints = {endpoint_of(a, "a"), endpoint_of(b, "b")};
  REQUIRE(router.apply(t).is_ok());  // still lists the drained one: it stays out
  const uint64_t a_before = a.requests();
  HttpTestClient client(port);
  for (int i = 0; i < 20; ++i) REQUIRE(client.get("/").status == 200);
  in_flight.join();
  CHECK(slow.status == 200);
  CHECK(!slow.ec);
  CHECK(a.requests() == a_before);
  CHECK(b.requests() == 20);
}

TEST_CASE("builtin router honours header routes", "[traffic][builtin]") {
  EchoBackend v1("v1"), v2("v2");
  BuiltinRouter router(SystemClock::instance());
  RouteTable t = two_revisions(v1, v2, 0);
  auto route = [](std::string header, manifests::StringMatch m) {
    HeaderRoute h;
    h.name = "testers";
    h.revision = 2;
    h.match.push_back(manifests::HeaderRouteMatch{std::move(header), std::move(m)});
    return h;
  };
  t.header_routes.push_back(route("X-Canary", exact("1")));
  t.header_routes.push_back(route("X-User", prefix("qa-")));
  t.header_routes.push_back(route("X-Build", regex("[0-9]+-rc")));
  REQUIRE(router.apply(t).is_ok());
  HttpTestClient client(*router.listen_port("orders"));
  CHECK(client.get("/", {{"X-Canary", "1"}}).body == "v2");
  CHECK(client.get("/", {{"X-Canary", "2"}}).body == "v1");
  CHECK(client.get("/", {{"X-User", "qa-anna"}}).body == "v2");
  CHECK(client.get("/", {{"X-User", "anna"}}).body == "v1");
  CHECK(client.get("/", {{"X-Build", "42-rc"}}).body == "v2");
  CHECK(client.get("/", {{"X-Build", "42-rc1"}}).body == "v1");  // whole-value match
  CHECK(client.get("/").body == "v1");

  t.header_routes.push_back(route("X-Bad", regex("(unclosed")));
  Status bad = router.apply(t);
  CHECK(bad.code() == StatusCode::kInvalidArgument);
  CHECK(client.get("/", {{"X-Canary", "1"}}).body == "v2");  // previous table still live
}

TEST_CASE("builtin router falls back to stable and answers 503 when nothing is ready",
          "[traffic][builtin]") {
  EchoBackend v1("v1");
  BuiltinRouter router(SystemClock::instance());
  RouteTable t;
  t.rollout = "orders";
  t.listen = "127.0.0.1:0";
  t.revisions.push_back(revision(1, "stable", 0, {endpoint_of(v1, "s")}));
  t.revisions.push_back(revision(2, "canary", 100, {}));  // canary has no ready instance
  REQUIRE(router.apply(t).is_ok());
  HttpTestClient client(*router.listen_port("orders"));
  for (int i = 0; i < 10; ++i) CHECK(client.get("/").body == "v1");

  t.revisions[0].ready_endpoints.clear();
  REQUIRE(router.apply(t).is_ok());
  auto r = client.get("/");
  CHECK(r.status == 503);
  CHECK(r.keep_alive);  // the client connection survives
  t.revisions[0].ready_endpoints = {endpoint_of(v1, "s")};
  REQUIRE(router.apply(t).is_ok());
  CHECK(client.get("/").status == 200);
}

TEST_CASE("builtin router answers 400 to malformed requests and 502 on upstream reset",
          "[traffic][builtin]") {
  EchoBackend v1("v1");
  BuiltinRouter router(SystemClock::instance());
  RouteTable t;
  t.rollout = "orders";
  t.listen = "127.0.0.1:0";
  t.revisions.push_back(revision(1, "stable", 100, {endpoint_of(v1, "s")}));
  REQUIRE(router.apply(t).is_ok());
  const uint16_t port = *router.listen_port("orders");
  {
    HttpTestClient client(port);
    CHECK(client.raw("GARBAGE\r\n\r\n").status == 400);
  }
  {
    HttpTestClient client(port);
    CHECK(client.raw("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n").status == 400);
  }
  HttpTestClient client(port);
  auto reset = client.get("/reset");
  CHECK(reset.status == 502);
  CHECK(reset.keep_alive);
  CHECK(client.get("/").status == 200);  // same client connection
  auto stats = router.stats("orders", 1, 60s);
  REQUIRE(stats);
  CHECK(stats->errors_5xx == 1);
  CHECK(stats->requests == 2);
  const std::string metrics = router.metrics_text();
  CHECK(metrics.find("sluice_router_requests_total{rollout=\"orders\",revision=\"1\",version="
                     "\"v1\",code=\"5xx\"} 1") != std::string::npos);
  CHECK(metrics.find("sluice_router_request_duration_seconds_count{rollout=\"orders\",revision="
                     "\"1\",version=\"v1\"} 2") != std::string::npos);
}

TEST_CASE("builtin router disconnects slowloris clients and times out slow upstreams",
          "[traffic][builtin]") {
  EchoBackend v1("v1");
  ProxyOptions options;
  options.client_timeout = 300ms;
  options.upstream_timeout = 300ms;
  BuiltinRouter router(SystemClock::instance(), options);
  RouteTable t;
  t.rollout = "orders";
  t.listen = "127.0.0.1:0";
  t.revisions.push_back(revision(1, "stable", 100, {endpoint_of(v1, "s")}));
  REQUIRE(router.apply(t).is_ok());
  const uint16_t port = *router.listen_port("orders");

  HttpTestClient slowloris(port);
  REQUIRE(!slowloris.send("GET / HTTP/1.1\r\nHost: x\r\n"));
  std::this_thread::sleep_for(100ms);
  REQUIRE(!slowloris.send("X-A: 1\r\n"));  // still trickling, never finishing the header
  CHECK(slowloris.closed_by_peer_within(2s));

  HttpTestClient client(port);
  CHECK(client.get("/slow?ms=1500").status == 504);
}

TEST_CASE("builtin router serves the blue-green preview door and is idempotent",
          "[traffic][builtin]") {
  EchoBackend blue("v1"), green("v2");
  BuiltinRouter router(SystemClock::instance());
  RouteTable t = two_revisions(blue, green, 0);
  t.revisions[1].role = "preview";
  t.preview_listen = "127.0.0.1:0";
  t.preview_revision = 2;
  REQUIRE(router.apply(t).is_ok());
  const uint16_t main_port = *router.listen_port("orders");
  const uint16_t preview_port = *router.listen_port("orders", true);
  HttpTestClient main_client(main_port), preview_client(preview_port);
  CHECK(main_client.get("/").body == "v1");
  CHECK(preview_client.get("/").body == "v2");
  REQUIRE(router.apply(t).is_ok());
  CHECK(*router.listen_port("orders") == main_port);
  CHECK(main_client.get("/").body == "v1");

  router.remove("orders");
  CHECK(!router.listen_port("orders"));
  CHECK(!router.stats("orders", 1, 60s));
}

TEST_CASE("builtin router refuses Transfer-Encoding other than chunked, and with Content-Length",
          "[traffic][builtin][security]") {
  EchoBackend v1("v1");
  BuiltinRouter router(SystemClock::instance());
  RouteTable t;
  t.rollout = "orders";
  t.listen = "127.0.0.1:0";
  t.revisions.push_back(revision(1, "stable", 100, {endpoint_of(v1, "s")}));
  REQUIRE(router.apply(t).is_ok());
  const uint16_t port = *router.listen_port("orders");
  // The body of each request is a second, smuggled request: the backend must see neither.
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<std::string> framings = {
      "Transfer-Encoding: identity",
      "Transfer-Encoding: chunked, identity",
      "Transfer-Encoding: xchunked",
      "Transfer-Encoding: gzip, chunked",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
      "Transfer-Encoding: identity\r\nContent-Length: 5",
      "Transfer-Encoding: chunked\r\nContent-Length: 5",
      "Content-Length: 5\r\nTransfer-Encoding: chunked",
  };
  for (const auto& framing : framings) {
    INFO(framing);
    HttpTestClient client(port);
    auto r = client.raw("POST / HTTP/1.1\r\nHost: x\r\n" + framing + "\r\n\r\n" + smuggled);
    CHECK(!r.ec);
    CHECK(r.status == 400);
    CHECK(client.closed_by_peer_within(2s));
  }
  CHECK(v1.requests() == 0);
  // Exactly "chunked", in any case, is proxied.
  HttpTestClient client(port);
  auto ok = client.raw(
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ChUnKeD\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  CHECK(!ok.ec);
  CHECK(ok.status == 200);
  CHECK(v1.requests() == 1);
}

}  // namespace
}  // namespace sluice::traffic
