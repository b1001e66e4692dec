// The HAProxy router against a real HAProxy 2.6 and in-process Beast backends.
#include <atomic>
#include <cmath>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/integration/traffic/haproxy_process.h"
#include "tests/integration/traffic/http_test_client.h"
#include "tests/support/echo_backend/echo_backend.h"
#include "traffic/haproxy_router.h"

namespace sluice::traffic {
namespace {

using sluice::testing::EchoBackend;
using sluice::testing::HaproxyProcess;
using sluice::testing::HttpResult;
using sluice::testing::HttpTestClient;
using namespace std::chrono_literals;

RevisionRoute revision(int64_t rev, std::string role, int weight,
                       std::vector<const EchoBackend*> backends) {
  RevisionRoute r;
  r.revision = rev;
  r.version = "v" + std::to_string(rev);
  r.role = std::move(role);
  r.weight_percent = weight;
  int n = 0;
  for (const EchoBackend* b : backends) {
    r.ready_endpoints.push_back({r.role + "-" + std::to_string(n++), "127.0.0.1", b->port()});
  }
  return r;
}

RouteTable table_for(const HaproxyProcess& h, std::vector<RevisionRoute> revisions) {
  RouteTable t;
  t.rollout = "orders";
  t.revisions = std::move(revisions);
  t.haproxy = manifests::HaproxyRouting{h.socket(), "orders"};
  return t;
}

template <class F>
bool eventually(F cond, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return cond();
}

TEST_CASE("haproxy router splits by weight and aborts to stable", "[traffic][haproxy]") {
  HaproxyProcess haproxy;
  REQUIRE(haproxy.ready());
  EchoBackend v1("v1"), v2("v2");
  HaproxyRouter router(SystemClock::instance());
  auto t = table_for(haproxy, {revision(1, "stable", 80, {&v1}), revision(2, "canary", 20, {&v2})});
  REQUIRE(router.apply(t).is_ok());
  REQUIRE(router.apply(t).is_ok());  // idempotent

  HttpTestClient client(haproxy.port());
  constexpr int kRequests = 1000;
  int canary = 0;
  for (int i = 0; i < kRequests; ++i) {
    auto r = client.get("/");
    REQUIRE(r.status == 200);
    if (r.body == "v2") ++canary;
  }
  const double sigma = std::sqrt(kRequests * 0.2 * 0.8);
  CHECK(std::abs(canary - kRequests * 0.2) < 5 * sigma);

  (void)router.stats("orders", 2, 60s);  // first sample
  for (int i = 0; i < 10; ++i) REQUIRE(client.get("/status/500").status == 500);
  auto stats = router.stats("orders", 2, 60s);
  REQUIRE(stats);
  CHECK(stats->requests + router.stats("orders", 1, 60s)->requests >= 10);

  // Abort: everything to stable.
  t.revisions[0].weight_percent = 100;
  t.revisions[1].weight_percent = 0;
  REQUIRE(router.apply(t).is_ok());
  const uint64_t canary_before = v2.requests();
  for (int i = 0; i < 200; ++i) REQUIRE(client.get("/").body == "v1");
  CHECK(v2.requests() == canary_before);
}

TEST_CASE("haproxy router keeps serving across weight changes under load", "[traffic][haproxy]") {
  HaproxyProcess haproxy;
  REQUIRE(haproxy.ready());
  EchoBackend v1("v1"), v2("v2");
  HaproxyRouter router(SystemClock::instance());
  auto t = table_for(haproxy, {revision(1, "stable", 50, {&v1}), revision(2, "canary", 50, {&v2})});
  REQUIRE(router.apply(t).is_ok());

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&] {
      HttpTestClient client(haproxy.port());
      for (int i = 0; i < 50'000 && !stop.load(); ++i) {
        auto r = client.get("/");
        (r.ec || r.status != 200) ? failures.fetch_add(1) : ok.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    const int w = (i * 37) % 101;
    t.revisions[0].weight_percent = 100 - w;
    t.revisions[1].weight_percent = w;
    REQUIRE(router.apply(t).is_ok());
  }
  stop = true;
  for (auto& c : clients) c.join();
  CHECK(failures.load() == 0);
  CHECK(ok.load() > 100);
}

TEST_CASE("haproxy router drains, falls back to stable and answers 503 with nothing ready",
          "[traffic][haproxy]") {
  HaproxyProcess haproxy;
  REQUIRE(haproxy.ready());
  EchoBackend a("v1"), b("v1"), canary("v2");
  HaproxyRouter router(SystemClock::instance());
  auto t = table_for(haproxy, {revision(1, "stable", 100, {&a})});
  REQUIRE(router.apply(t).is_ok());

  HttpResult slow;
  std::thread in_flight([&] {
    HttpTestClient client(haproxy.port());
    slow = client.get("/slow?ms=400");
  });
  REQUIRE(eventually([&] { return a.in_flight() == 1; }));
  router.drain_endpoint("orders", t.revisions[0].ready_endpoints[0]);
  t.revisions[0].ready_endpoints.push_back({"stable-1", "127.0.0.1", b.port()});
  REQUIRE(router.apply(t).is_ok());
  const uint64_t a_before = a.requests();
  HttpTestClient client(haproxy.port());
  for (int i = 0; i < 20; ++i) REQUIRE(client.get("/").status == 200);
  in_flight.join();
  CHECK(slow.status == 200);
  CHECK(a.requests() == a_before);

  // Canary at 100% without a ready instance: stable serves.
  t = table_for(haproxy, {revision(1, "stable", 0, {&b}), revision(2, "canary", 100, {})});
  REQUIRE(router.apply(t).is_ok());
  for (int i = 0; i < 10; ++i) CHECK(client.get("/").body == "v1");

  // Nothing ready.
  t = table_for(haproxy, {revision(1, "stable", 100, {}), revision(2, "canary", 0, {})});
  REQUIRE(router.apply(t).is_ok());
  CHECK(client.get("/").status == 503);
}

TEST_CASE("haproxy router reports missing sockets and error answers", "[traffic][haproxy]") {
  HaproxyRouter router(SystemClock::instance());
  RouteTable t;
  t.rollout = "orders";
  t.haproxy = manifests::HaproxyRouting{"/tmp/sluice-no-such-dir/admin.sock", "orders"};
  Status missing = router.apply(t);
  CHECK(missing.code() == StatusCode::kUnavailable);
  CHECK(missing.message().find("show servers state orders") != std::string::npos);

  HaproxyProcess haproxy;
  REQUIRE(haproxy.ready());
  t.haproxy = manifests::HaproxyRouting{haproxy.socket(), "no-such-backend"};
  Status bad = router.apply(t);
  CHECK(bad.code() == StatusCode::kFailedPrecondition);
  CHECK(bad.message().find("Can't find backend") != std::string::npos);

  t.haproxy = manifests::HaproxyRouting{haproxy.socket(), "orders"};
  t.header_routes.push_back(HeaderRoute{"testers", {}, 2});
  CHECK(router.apply(t).code() == StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace sluice::traffic
