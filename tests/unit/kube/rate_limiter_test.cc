// The token bucket and the reflector backoff, on a simulated clock and a seeded random source.
#include "kube/rate_limiter.h"

#include <catch2/catch.hpp>

using sluice::Duration;
using sluice::SeededRandom;
using sluice::SimulatedClock;
using sluice::StatusCode;
using sluice::kube::Backoff;
using sluice::kube::BackoffPolicy;
using sluice::kube::RateLimit;
using sluice::kube::RateLimiter;
using namespace std::chrono_literals;

TEST_CASE("rate limiter: a burst passes at once, then requests are paced at the QPS",
          "[rate_limiter]") {
  SimulatedClock clock;
  RateLimiter limiter(clock, RateLimit{/*qps=*/20, /*burst=*/30});
  for (int i = 0; i < 30; ++i) {
    auto wait = limiter.reserve(10'000ms);
    REQUIRE(wait);
    CHECK(wait->count() == 0);
  }
  // The bucket is empty: the 31st waits one token's time (50 ms at 20 QPS), the 32nd queues
  // behind it.
  auto w31 = limiter.reserve(10'000ms);
  auto w32 = limiter.reserve(10'000ms);
  REQUIRE(w31);
  REQUIRE(w32);
  CHECK(*w31 == 50ms);
  CHECK(*w32 == 100ms);
  // After a second, 20 tokens came back; two were owed.
  clock.advance(1000ms);
  CHECK(limiter.tokens() == Approx(18));
  for (int i = 0; i < 18; ++i) CHECK(limiter.reserve(10'000ms)->count() == 0);
  CHECK(*limiter.reserve(10'000ms) == 50ms);
}

TEST_CASE("rate limiter: the bucket never holds more than the burst", "[rate_limiter]") {
  SimulatedClock clock;
  RateLimiter limiter(clock, RateLimit{/*qps=*/5, /*burst=*/2});
  clock.advance(Duration(3'600'000));
  CHECK(limiter.tokens() == Approx(2));
  CHECK(limiter.reserve(1000ms)->count() == 0);
  CHECK(limiter.reserve(1000ms)->count() == 0);
  CHECK(*limiter.reserve(1000ms) == 200ms);
}

TEST_CASE("rate limiter: a wait longer than the request timeout is refused and takes nothing",
          "[rate_limiter]") {
  SimulatedClock clock;
  RateLimiter limiter(clock, RateLimit{/*qps=*/1, /*burst=*/1});
  REQUIRE(limiter.reserve(500ms));  // the one token
  auto refused = limiter.reserve(500ms);
  REQUIRE_FALSE(refused);
  CHECK(refused.status().code() == StatusCode::kDeadlineExceeded);
  CHECK(refused.status().message() ==
        "client-side rate limit (1 QPS, burst 1): the request would wait 1000 ms, more than its "
        "500 ms timeout");
  CHECK(limiter.tokens() == Approx(0));
  // A caller with a longer timeout gets the same slot the refused one would have had.
  CHECK(*limiter.reserve(2000ms) == 1000ms);
}

TEST_CASE("backoff: doubles from the initial wait up to the cap, jittered within bounds",
          "[rate_limiter]") {
  SeededRandom random(42);
  BackoffPolicy policy;
  policy.initial = 500ms;
  policy.max = 4000ms;
  policy.jitter = 0.5;
  Backoff backoff(policy, random);
  const int64_t bases[] = {500, 1000, 2000, 4000, 4000, 4000};
  for (int64_t base : bases) {
    const Duration wait = backoff.next();
    INFO("base " << base << " wait " << wait.count());
    CHECK(wait.count() >= base / 2);
    CHECK(wait.count() < base * 3 / 2);
  }
  backoff.reset();
  const Duration again = backoff.next();
  CHECK(again.count() >= 250);
  CHECK(again.count() < 750);
}

TEST_CASE("backoff: without jitter the waits are exact", "[rate_limiter]") {
  SeededRandom random(7);
  BackoffPolicy policy;
  policy.initial = 100ms;
  policy.max = 1000ms;
  policy.jitter = 0;
  Backoff backoff(policy, random);
  const int64_t expected[] = {100, 200, 400, 800, 1000, 1000};
  for (int64_t e : expected) CHECK(backoff.next().count() == e);
}
