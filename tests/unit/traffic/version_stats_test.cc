#include <catch2/catch.hpp>

#include "traffic/version_stats.h"

namespace sluice::traffic {
namespace {

using namespace std::chrono_literals;

TEST_CASE("rolling window counts requests and 5xx per second bucket", "[traffic][unit]") {
  SimulatedClock clock;
  RevisionStats stats(clock);
  CHECK(!stats.window(60s));
  for (int i = 0; i < 90; ++i) stats.record(200, 2ms);
  for (int i = 0; i < 10; ++i) stats.record(503, 2ms);
  auto w = stats.window(10s);
  REQUIRE(w);
  CHECK(w->requests == 100);
  CHECK(w->errors_5xx == 10);
  CHECK(w->success_rate == Approx(0.9));
  CHECK(w->rps == Approx(10.0));

  clock.advance(30s);
  for (int i = 0; i < 50; ++i) stats.record(200, 2ms);
  CHECK(stats.window(10s)->requests == 50);
  CHECK(stats.window(60s)->requests == 150);
  clock.advance(301s);  // everything is older than the 5-minute ring
  CHECK(!stats.window(300s));
  stats.record(200, 1ms);  // a reused slot starts from zero
  CHECK(stats.window(300s)->requests == 1);

  auto totals = stats.totals();
  CHECK(totals.count == 151);
  CHECK(totals.by_class[1] == 141);
  CHECK(totals.by_class[4] == 10);
}

TEST_CASE("percentiles come from the latency histogram", "[traffic][unit]") {
  SimulatedClock clock;
  RevisionStats stats(clock);
  for (int i = 0; i < 98; ++i) stats.record(200, 1ms);
  for (int i = 0; i < 2; ++i) stats.record(200, 200ms);
  auto w = stats.window(5s);
  REQUIRE(w);
  CHECK(w->p50_ms == Approx(1.0).epsilon(0.25));
  CHECK(w->p99_ms == Approx(200.0).epsilon(0.25));
  CHECK(RevisionStats::latency_bucket(0.01) == 0);
  CHECK(RevisionStats::latency_bucket(1e9) == RevisionStats::kLatencyBuckets - 1);
}

}  // namespace
}  // namespace sluice::traffic
