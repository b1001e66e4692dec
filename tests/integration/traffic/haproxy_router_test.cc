// The HAProxy router against a real HAProxy 2.6 and in-process Beast backends.
#include <atomic>
#include <cmath>
#include <iterator>
#include <map>
#include <sstream>
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

HeaderRoute route(std::string header, manifests::StringMatch m) {
  HeaderRoute h;
  h.name = "testers";
  h.revision = 2;
  h.match.push_back(manifests::HeaderRouteMatch{std::move(header), std::move(m)});
  return h;
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

  // Three keep-alive clients hammer the frontend while 1,000 weight changes go over the runtime
  // API; each change waits (bounded) until a response completed after it.
  constexpr int kClients = 3;
  constexpr int kChanges = 1000;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failures{0}, served_v2{0}, reconnects{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      HttpTestClient client(haproxy.port());
      for (int i = 0; i < 200'000 && !stop.load(); ++i) {  // bounded
        auto r = client.get("/");
        // The body names the version that answered, the header the server HAProxy chose.
        const bool consistent = (r.body == "v1" && r.server.rfind("r1-", 0) == 0) ||
                                (r.body == "v2" && r.server.rfind("r2-", 0) == 0);
        if (r.ec || r.status != 200 || !consistent) {
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
    const int w = (i * 37) % 101;
    t.revisions[0].weight_percent = 100 - w;
    t.revisions[1].weight_percent = w;
    REQUIRE(router.apply(t).is_ok());
    ++changes;
    const int before = ok.load() + failures.load();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (ok.load() + failures.load() <= before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50us);
    }
    REQUIRE(ok.load() + failures.load() > before);
  }
  stop = true;
  for (auto& c : clients) c.join();
  CHECK(changes == kChanges);
  CHECK(failures.load() == 0);
  CHECK(reconnects.load() == 0);  // HAProxy kept every client connection
  CHECK(ok.load() >= kChanges);
  CHECK(served_v2.load() > 0);
  CHECK(served_v2.load() < ok.load());
}

// HAProxy 2.6 gives a server added at run time an idle-connection pool of size 0 (pool-max-conn
// 0, pool-purge-delay 0): without the pool settings the router passes, every request through it
// opened a new backend connection (connect == req_tot), half the throughput of a `server` line.
TEST_CASE("haproxy router's servers reuse idle backend connections like a server line",
          "[traffic][haproxy]") {
  HaproxyProcess haproxy;
  REQUIRE(haproxy.ready());
  EchoBackend v1("v1");
  HaproxyRouter router(SystemClock::instance());
  REQUIRE(router.apply(table_for(haproxy, {revision(1, "stable", 100, {&v1})})).is_ok());

  constexpr uint64_t kRequests = 200;
  HttpTestClient client(haproxy.port());
  for (uint64_t i = 0; i < kRequests; ++i) REQUIRE(client.get("/").status == 200);

  auto answer = haproxy_command(haproxy.socket(), "show stat", 1s);
  REQUIRE(answer);
  auto rows = parse_show_stat(*answer);
  REQUIRE(rows);
  const std::map<std::string, std::string>* server = nullptr;
  for (const auto& row : *rows) {
    if (row.at("pxname") == "orders" && row.at("svname") == "r1-stable-0") server = &row;
  }
  REQUIRE(server != nullptr);
  CHECK(std::stoull(server->at("req_tot")) == kRequests);
  // One client, one backend connection kept idle between its requests and reused.
  CHECK(std::stoull(server->at("connect")) <= 2);
  CHECK(std::stoull(server->at("reuse")) >= kRequests - 2);

  auto pools = haproxy_command(haproxy.socket(), "show servers conn orders", 1s);
  REQUIRE(pools);
  // Columns: name id addr port - purge_delay used_cur used_max need_est unsafe safe idle_lim ...
  INFO(*pools);
  CHECK(pools->find("orders/r1-stable-0 ") != std::string::npos);
  const size_t line = pools->find("orders/r1-stable-0 ");
  std::istringstream fields(pools->substr(line, pools->find('\n', line) - line));
  std::vector<std::string> columns{std::istream_iterator<std::string>(fields), {}};
  REQUIRE(columns.size() >= 12);
  CHECK(columns[5] == "5000");  // pool-purge-delay 5s, as a static server
  CHECK(columns[11] == "-1");   // pool-max-conn -1 (unlimited), as a static server
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

  // A header route with an haproxy.cfg that lacks the map and the canary backend.
  HaproxyProcess bare("orders", /*header_routes=*/false);
  REQUIRE(bare.ready());
  EchoBackend v1("v1"), v2("v2");
  t = table_for(bare, {revision(1, "stable", 100, {&v1}), revision(2, "canary", 0, {&v2})});
  REQUIRE(router.apply(t).is_ok());  // no header route: the map is not needed
  t.header_routes.push_back(route("X-Canary", exact("1")));
  Status unconfigured = router.apply(t);
  CHECK(unconfigured.code() == StatusCode::kFailedPrecondition);
  CHECK(unconfigured.message().find("orders-header-routes.map") != std::string::npos);
  CHECK(unconfigured.message().find("orders-canary") != std::string::npos);
}

TEST_CASE("haproxy router honours header routes through a map, without reloads",
          "[traffic][haproxy]") {
  HaproxyProcess haproxy;
  REQUIRE(haproxy.ready());
  EchoBackend v1("v1"), v2a("v2"), v2b("v2");
  HaproxyRouter router(SystemClock::instance());
  auto t = table_for(haproxy,
                     {revision(1, "stable", 100, {&v1}), revision(2, "canary", 0, {&v2a, &v2b})});
  t.header_routes.push_back(route("X-Canary", exact("1")));
  t.header_routes.push_back(route("X-User", prefix("qa-")));
  t.header_routes.push_back(route("X-Build", regex("[0-9]+-rc")));
  HeaderRoute both = route("X-Team", exact("pay ments"));  // all matches of a route must hold
  both.match.push_back({"X-Region", exact("eu.1")});
  t.header_routes.push_back(both);
  REQUIRE(router.apply(t).is_ok());
  REQUIRE(router.apply(t).is_ok());  // idempotent

  HttpTestClient client(haproxy.port());
  auto via = [&](std::vector<std::pair<std::string, std::string>> headers) {
    auto r = client.get("/", headers);
    REQUIRE(r.status == 200);
    return r.body;
  };
  CHECK(client.get("/", {{"X-Canary", "1"}}).haproxy_backend == "orders-canary");
  CHECK(client.get("/").haproxy_backend == "orders");
  CHECK(via({{"X-Canary", "1"}}) == "v2");
  CHECK(via({{"x-canary", "1"}}) == "v2");  // header names are case-insensitive
  CHECK(via({{"X-Canary", "2"}}) == "v1");
  CHECK(via({{"X-Canary", "11"}}) == "v1");
  CHECK(via({{"X-User", "qa-anna"}}) == "v2");
  CHECK(via({{"X-User", "anna-qa-"}}) == "v1");
  CHECK(via({{"X-Build", "42-rc"}}) == "v2");
  CHECK(via({{"X-Build", "42-rc1"}}) == "v1");  // whole-value match, as the built-in router
  CHECK(via({{"X-Team", "pay ments"}, {"X-Region", "eu.1"}}) == "v2");
  CHECK(via({{"X-Region", "eu.1"}, {"X-Team", "pay ments"}}) == "v2");
  CHECK(via({{"X-Team", "pay ments"}}) == "v1");
  CHECK(via({{"X-Team", "pay ments"}, {"X-Region", "eux1"}}) == "v1");  // '.' is literal
  CHECK(via({}) == "v1");
  // Both canary servers take header-routed requests.
  for (int i = 0; i < 20; ++i) CHECK(via({{"X-Canary", "1"}}) == "v2");
  CHECK(v2a.requests() > 0);
  CHECK(v2b.requests() > 0);

  // Non-matching requests follow the weights.
  t.revisions[0].weight_percent = 50;
  t.revisions[1].weight_percent = 50;
  REQUIRE(router.apply(t).is_ok());
  int canary = 0;
  for (int i = 0; i < 200; ++i) canary += via({}) == "v2" ? 1 : 0;
  CHECK(canary > 50);
  CHECK(canary < 150);

  // A bad regex is refused by HAProxy and the routes in place stay.
  auto bad = t;
  bad.header_routes.push_back(route("X-Bad", regex("(unclosed")));
  Status refused = router.apply(bad);
  CHECK(refused.code() == StatusCode::kFailedPrecondition);
  CHECK(refused.message().find("add map") != std::string::npos);
  CHECK(via({{"X-Canary", "1"}}) == "v2");

  // A canary without ready servers: matching requests follow the weights (to stable).
  t.revisions[0].weight_percent = 100;
  t.revisions[1].weight_percent = 0;
  t.revisions[1].ready_endpoints.clear();
  REQUIRE(router.apply(t).is_ok());
  for (int i = 0; i < 10; ++i) CHECK(via({{"X-Canary", "1"}}) == "v1");

  // The route removed: map emptied, canary backend emptied.
  t = table_for(haproxy,
                {revision(1, "stable", 100, {&v1}), revision(2, "canary", 0, {&v2a, &v2b})});
  REQUIRE(router.apply(t).is_ok());
  const uint64_t canary_before = v2a.requests() + v2b.requests();
  for (int i = 0; i < 10; ++i) CHECK(via({{"X-Canary", "1"}}) == "v1");
  CHECK(v2a.requests() + v2b.requests() == canary_before);
  auto entries = haproxy_command(haproxy.socket(), "show map " + haproxy.header_map(), 1s);
  REQUIRE(entries);
  auto parsed = parse_map_entries(*entries);
  REQUIRE(parsed);
  CHECK(parsed->empty());
  auto servers = haproxy_command(haproxy.socket(), "show servers state orders-canary", 1s);
  REQUIRE(servers);
  auto canary_servers = parse_servers_state(*servers);
  REQUIRE(canary_servers);
  for (const auto& s : *canary_servers) CHECK(s.in_maintenance());  // deleted or in maint
}

}  // namespace
}  // namespace sluice::traffic
