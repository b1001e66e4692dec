// The rate-limited log of failed authentication attempts (issue 19, "Security").
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "api/auth_failure_log.h"

using namespace sluice::api;
using namespace std::chrono_literals;

TEST_CASE("failed attempts: one line per address per window, with the count",
          "[api][auth][security]") {
  AuthFailureLog log(std::chrono::seconds(10));
  const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  auto first = log.note("192.0.2.7", "GET /api/v1/rollouts", t0);
  REQUIRE(first);
  CHECK_THAT(*first, Catch::Contains("192.0.2.7"));
  CHECK_THAT(*first, Catch::Contains("1 failed authentication attempt"));
  CHECK_THAT(*first, Catch::Contains("GET /api/v1/rollouts"));
  // Within the window: counted, not logged; another address has its own window.
  CHECK_FALSE(log.note("192.0.2.7", "GET /api/v1/rollouts", t0 + 1s));
  CHECK_FALSE(log.note("192.0.2.7", "POST /api/v1/sync", t0 + 9s));
  auto other = log.note("198.51.100.1", "GET /api/v1/source", t0 + 9s);
  REQUIRE(other);
  CHECK_THAT(*other, Catch::Contains("198.51.100.1"));
  // After the window: one line with everything since the last one.
  auto next = log.note("192.0.2.7", "POST /api/v1/sync", t0 + 10s);
  REQUIRE(next);
  CHECK_THAT(*next, Catch::Contains("3 failed authentication attempts"));
  CHECK_THAT(*next, Catch::Contains("POST /api/v1/sync"));
  CHECK_FALSE(log.note("192.0.2.7", "GET /", t0 + 11s));
}

TEST_CASE("failed attempts: a flood of addresses keeps memory bounded and still logs",
          "[api][auth][security]") {
  AuthFailureLog log(std::chrono::seconds(10), /*max_addresses=*/8);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  int lines = 0;
  for (int i = 0; i < 100; ++i)
    if (log.note("10.0.0." + std::to_string(i), "GET /api/v1/rollouts", t0)) ++lines;
  CHECK(log.tracked_addresses() <= 8);
  CHECK(lines >= 8);
  CHECK(lines < 100);  // beyond the table, addresses share one "other" line per window
  // Control characters from the request target never reach the log line.
  auto line = log.note("192.0.2.9", "GET /a\r\nfake: line", t0 + 20s);
  REQUIRE(line);
  CHECK(line->find('\n') == std::string::npos);
  CHECK(line->find('\r') == std::string::npos);
}
