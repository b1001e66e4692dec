#include <catch2/catch.hpp>

#include "runtime/backoff.h"
#include "runtime/expand.h"

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
    CHECK(expand_vars(c.in, vars) == c.out);
  }
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
