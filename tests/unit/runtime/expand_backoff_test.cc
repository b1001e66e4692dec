#include <catch2/catch.hpp>

#include "runtime/backoff.h"
#include "manifests/expand.h"

using namespace sluice;
using namespace sluice::runtime;

TEST_CASE("$(VAR) expansion follows Kubernetes") {
  const std::map<std::string, std::string> vars = {{"PORT", "8080"}, {"NAME", "orders"}, {"E", ""}};
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"--port=$(PORT)", "--port=8080"},
      {"$(NAME)-$(PORT)", "orders-8080"},
      {"$(MISSING)", "$(MISSING)"},  // undefined: left as written
      {"$$(PORT)", "$(PORT)"},       // escaped
      {"$$", "$"},
      {"$(E)x", "x"},
      {"$(PORT", "$(PORT"},  // unterminated
      {"cost $5", "cost $5"},
      {"trailing $", "trailing $"},
      {"", ""},
      {"$(PORT)$(PORT)", "80808080"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    CHECK(manifests::expand(c.in, vars).value == c.out);
  }
}

TEST_CASE("$(VAR) expansion stops at its bound instead of allocating past it") {
  std::map<std::string, std::string> vars = {{"E0", std::string(1000, 'x')}};
  bool stopped = false;
  // The bomb of the hostile review: each entry doubles the one before it.
  for (int i = 1; i < 40; ++i) {
    const std::string prev = "$(E" + std::to_string(i - 1) + ")";
    auto e = manifests::expand(prev + prev, vars);
    const size_t want = size_t{1000} << i;
    if (want <= manifests::kMaxExpandedValueBytes) {
      REQUIRE_FALSE(e.too_large);
      REQUIRE(e.value.size() == want);
    } else {
      CHECK(e.too_large);
      CHECK(e.value.size() == manifests::kMaxExpandedValueBytes);
      CHECK(i == 8);  // 256,000 bytes: the first past 128 KiB
      stopped = true;
      break;
    }
    vars["E" + std::to_string(i)] = e.value;
  }
  CHECK(stopped);
  auto at_bound = manifests::expand("$(E0)", vars, 1000);
  CHECK_FALSE(at_bound.too_large);
  auto over = manifests::expand("$(E0)y", vars, 1000);
  CHECK(over.too_large);
  CHECK(over.value == std::string(1000, 'x'));
  CHECK(manifests::expand("$(NOPE)", vars).unresolved);
  CHECK_FALSE(manifests::expand("$$(NOPE)", vars).unresolved);
}

TEST_CASE("back-off doubles from the base up to the cap") {
  BackoffPolicy p;  // 1s base, 60s cap
  CHECK(backoff_delay(p, 0) == Duration(0));
  CHECK(backoff_delay(p, 1) == Duration(1000));
  CHECK(backoff_delay(p, 2) == Duration(2000));
  CHECK(backoff_delay(p, 3) == Duration(4000));
  CHECK(backoff_delay(p, 6) == Duration(32000));
  CHECK(backoff_delay(p, 7) == Duration(60000));
  CHECK(backoff_delay(p, 1000) == Duration(60000));
  p.base = Duration(50);
  p.cap = Duration(300);
  CHECK(backoff_delay(p, 3) == Duration(200));
  CHECK(backoff_delay(p, 4) == Duration(300));
}

TEST_CASE("a process that ran long enough resets the failure count") {
  BackoffPolicy p;
  CHECK(next_failure_count(p, 0, Duration(0)) == 1);
  CHECK(next_failure_count(p, 4, Duration(5000)) == 5);
  CHECK(next_failure_count(p, 4, Duration(600'000)) == 1);
}
