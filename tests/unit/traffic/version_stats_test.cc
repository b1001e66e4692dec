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

TEST_CASE("samples give per-second counts and ratios of completed seconds", "[traffic][unit]") {
  SimulatedClock clock;
  RevisionStats stats(clock);
  CHECK(stats.samples(SampleKind::kRequestsPerSecond, 60s).empty());
  CHECK(stats.samples(SampleKind::kSuccessRatePerSecond, 60s).empty());
  clock.advance(500ms);  // traffic starts mid-second: that first second is partial
  // Second s0 (partial): 4 requests, 1 error. s1: 10 requests, 5 errors. s2: none. s3: 2 ok.
  for (int i = 0; i < 3; ++i) stats.record(200, 1ms);
  stats.record(500, 1ms);
  clock.advance(1s);
  for (int i = 0; i < 5; ++i) stats.record(200, 1ms);
  for (int i = 0; i < 5; ++i) stats.record(502, 1ms);
  clock.advance(2s);
  stats.record(200, 1ms);
  stats.record(200, 1ms);
  clock.advance(1s);
  stats.record(200, 1ms);  // the current second is still filling: not a sample yet

  // Counts skip the partial first second; seconds without requests count 0.
  CHECK(stats.samples(SampleKind::kRequestsPerSecond, 60s) == std::vector<double>{10, 0, 2});
  // Ratios exist only for seconds with requests, the partial first one included.
  CHECK(stats.samples(SampleKind::kSuccessRatePerSecond, 60s) ==
        std::vector<double>{0.75, 0.5, 1.0});
  // A 2 s window holds the current second and the one before it.
  CHECK(stats.samples(SampleKind::kRequestsPerSecond, 2s) == std::vector<double>{2});
  // Past the 5-minute ring nothing is left.
  clock.advance(301s);
  CHECK(stats.samples(SampleKind::kRequestsPerSecond, 300s) == std::vector<double>(299, 0.0));
  CHECK(stats.samples(SampleKind::kSuccessRatePerSecond, 300s).empty());
}

TEST_CASE("samples keep the last 1024 request durations in order", "[traffic][unit]") {
  SimulatedClock clock;
  RevisionStats stats(clock);
  CHECK(stats.samples(SampleKind::kRequestDurationMs, 60s).empty());
  stats.record(200, 1500us);
  stats.record(503, 2250us);  // errors have durations too
  CHECK(stats.samples(SampleKind::kRequestDurationMs, 60s) == std::vector<double>{1.5, 2.25});

  clock.advance(10s);
  const size_t more = RevisionStats::kDurationRing + 76;
  for (size_t i = 0; i < more; ++i) stats.record(200, std::chrono::microseconds(1000 + i));
  auto all = stats.samples(SampleKind::kRequestDurationMs, 60s);
  REQUIRE(all.size() == RevisionStats::kDurationRing);  // the oldest ones were overwritten
  CHECK(all.front() == Approx(1.076));                  // request number 76 of the batch
  CHECK(all.back() == Approx(static_cast<double>(1000 + more - 1) / 1000.0));

  // The window filters by the second a request completed in.
  clock.advance(5s);
  stats.record(200, 7ms);
  CHECK(stats.samples(SampleKind::kRequestDurationMs, 3s) == std::vector<double>{7.0});
  CHECK(stats.samples(SampleKind::kRequestDurationMs, 60s).size() == RevisionStats::kDurationRing);
}

}  // namespace
}  // namespace sluice::traffic
