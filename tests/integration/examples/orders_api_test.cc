// bin/orders-api as a real process on loopback (no broker needed).
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/process/test_process.h"

using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

Service start_api(const TempDir& dir, std::vector<std::string> args,
                  std::vector<std::string> env = {}) {
  auto service = start_service("orders-api", std::move(args), env, dir, "orders-api");
  REQUIRE(service.is_ok());
  return std::move(service).value();
}

std::string get_metrics(int port) {
  auto res = http(port, "GET", "/metrics");
  REQUIRE(res.is_ok());
  REQUIRE(res.value().status == 200);
  return res.value().body;
}

}  // namespace

TEST_CASE("orders-api answers health, version header and JSON over keep-alive", "[examples]") {
  TempDir dir;
  Service api = start_api(dir, {"--version", "1.4.2"});
  auto conn = HttpConnection::connect(api.port);
  REQUIRE(conn.is_ok());
  auto health = conn.value()->request("GET", "/healthz");
  REQUIRE(health.is_ok());
  CHECK(health.value().status == 200);
  CHECK(health.value().headers["x-version"] == "1.4.2");
  CHECK(health.value().headers["connection"] == "keep-alive");
  // Same connection, two more requests.
  auto get = conn.value()->request("GET", "/orders?limit=1");
  REQUIRE(get.is_ok());
  CHECK(get.value().status == 200);
  CHECK(get.value().headers["x-version"] == "1.4.2");
  CHECK(get.value().body.find("\"version\":\"1.4.2\"") != std::string::npos);
  auto post = conn.value()->request("POST", "/orders", "{\"item\":\"book\"}");
  REQUIRE(post.is_ok());
  CHECK(post.value().status == 200);
  CHECK(post.value().body.find("\"method\":\"POST\"") != std::string::npos);
}

TEST_CASE("orders-api error rate 1.0 answers only 500s, 0 only 200s", "[examples]") {
  TempDir dir;
  int requests = 20;
  SECTION("--error-rate 1") {
    Service api = start_api(dir, {"--error-rate", "1"});
    auto conn = HttpConnection::connect(api.port);
    REQUIRE(conn.is_ok());
    for (int i = 0; i < requests; ++i) {
      auto res = conn.value()->request("GET", "/orders");
      REQUIRE(res.is_ok());
      CHECK(res.value().status == 500);
    }
    CHECK(metric_value(get_metrics(api.port), "orders_requests_total", {"code=\"500\""}) ==
          requests);
  }
  SECTION("ERROR_RATE=0 from the environment") {
    Service api = start_api(dir, {}, {"ERROR_RATE=0"});
    auto conn = HttpConnection::connect(api.port);
    REQUIRE(conn.is_ok());
    for (int i = 0; i < requests; ++i) {
      auto res = conn.value()->request("POST", "/orders");
      REQUIRE(res.is_ok());
      CHECK(res.value().status == 200);
    }
    std::string metrics = get_metrics(api.port);
    CHECK(metric_value(metrics, "orders_requests_total", {"code=\"200\""}) == requests);
    CHECK_FALSE(metric_value(metrics, "orders_requests_total", {"code=\"500\""}).has_value());
  }
}

TEST_CASE("orders-api /metrics counts requests, labelled with version and role", "[examples]") {
  TempDir dir;
  std::string role_file = dir.file("role");
  { std::ofstream(role_file) << "canary\n"; }
  Service api = start_api(dir, {"--version", "2.0.0"}, {"SLUICE_ROLE_FILE=" + role_file});
  for (int i = 0; i < 7; ++i) REQUIRE(http(api.port, "GET", "/orders").is_ok());
  std::string metrics = get_metrics(api.port);
  CHECK(metric_value(metrics, "orders_requests_total",
                     {"version=\"2.0.0\"", "role=\"canary\"", "code=\"200\""}) == 7);
  CHECK(metric_value(metrics, "orders_request_duration_seconds_count") == 7);
  CHECK(metric_value(metrics, "orders_request_duration_seconds_bucket", {"le=\"+Inf\""}) == 7);
  CHECK(metric_value(metrics, "orders_published_total") == 0);  // standalone: no AMQP_URL

  // Sluice rewrites the role file on promotion; the next render uses the new role.
  { std::ofstream(role_file + ".tmp") << "stable\n"; }
  std::rename((role_file + ".tmp").c_str(), role_file.c_str());
  metrics = get_metrics(api.port);
  CHECK(metric_value(metrics, "orders_requests_total", {"role=\"stable\""}) == 7);
}

TEST_CASE("orders-api finishes an in-flight request on SIGTERM, then exits 0", "[examples]") {
  TempDir dir;
  Service api = start_api(dir, {"--latency-ms", "1500"});
  auto slow = HttpConnection::connect(api.port);
  REQUIRE(slow.is_ok());
  REQUIRE(slow.value()->send("GET", "/orders/slow").is_ok());
  // The request is in the handler once the in-flight gauge shows it.
  REQUIRE(poll_until(
      [&] { return metric_value(get_metrics(api.port), "orders_requests_in_flight") == 1; }, 5s));
  api.process->signal(SIGTERM);
  auto res = slow.value()->receive(10s);
  REQUIRE(res.is_ok());
  CHECK(res.value().status == 200);
  CHECK(res.value().headers["connection"] == "close");
  CHECK(api.process->wait_exit(10s) == 0);
  CHECK_FALSE(HttpConnection::connect(api.port).is_ok());
}
