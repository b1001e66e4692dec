// A run restored after a restart goes on from its persisted status (issue 19): measurements,
// counts and limits carry over and the next measurement is due one interval after the last.
#include <catch2/catch.hpp>

#include "healthcheck/analysis/analysis_run.h"

using namespace sluice;
using namespace sluice::analysis;
using namespace std::chrono_literals;

namespace {

const TimePoint kStart = from_unix_ms(1'767'225'600'000);

AnalysisRunSpec background_spec(int count, int failure_limit) {
  manifests::Metric m;
  m.name = "rate";
  m.interval = 10s;
  m.count = count;
  m.failure_limit = failure_limit;
  m.success_condition = "result >= 1";
  manifests::AnalysisTemplate t;
  t.metadata.name = "t";
  t.spec.metrics = {m};
  AnalysisRunSpec s;
  s.name = "orders-r7.a0.background";
  s.rollout = "orders";
  s.templates = {t};
  s.background = true;
  return s;
}

void measure(AnalysisRunState& run, TimePoint now, double v) {
  REQUIRE(run.due(now) == std::vector<size_t>{0});
  run.begin(0, now);
  Measurement m;
  m.value = v;
  m.started_at = now;
  run.complete(0, m, now + 1s);
}

}  // namespace

TEST_CASE("a resumed analysis run keeps its measurements, counts and schedule",
          "[analysis][resume]") {
  AnalysisRunState before(background_spec(5, 1), kStart);
  measure(before, kStart, 1);
  measure(before, kStart + 11s, 0);  // one failure: failureLimit 1 still allows it
  measure(before, kStart + 22s, 1);
  REQUIRE(before.status().metrics[0].count == 3);
  REQUIRE(before.status().metrics[0].failed == 1);

  // The controller restarts 100 s later and hands the persisted status back.
  AnalysisRunSpec spec = background_spec(5, 1);
  spec.resume = std::make_shared<AnalysisRunStatus>(before.status());
  const TimePoint restart = kStart + 100s;
  AnalysisRunState after(spec, restart);
  CHECK(after.status().started_at == kStart);
  CHECK(after.status().metrics[0].count == 3);
  CHECK(after.status().metrics[0].measurements.size() == 3);
  // Due one interval after the last measurement finished (already passed: due at once).
  REQUIRE(after.next_due() == kStart + 33s);

  // A second failure now exceeds failureLimit 1: the limit counts across the restart.
  measure(after, restart, 0);
  CHECK(after.status().phase == AnalysisPhase::kFailed);
  CHECK(after.status().metrics[0].failed == 2);
}

TEST_CASE("a resumed run that had finished keeps its verdict", "[analysis][resume]") {
  AnalysisRunSpec first = background_spec(2, 0);
  first.background = false;
  AnalysisRunState before(first, kStart);
  measure(before, kStart, 1);
  measure(before, kStart + 11s, 1);
  REQUIRE(before.status().phase == AnalysisPhase::kSuccessful);

  AnalysisRunSpec spec = first;
  spec.resume = std::make_shared<AnalysisRunStatus>(before.status());
  AnalysisRunState after(spec, kStart + 600s);
  CHECK(after.done());
  CHECK(after.status().phase == AnalysisPhase::kSuccessful);
  CHECK(after.status().finished_at == before.status().finished_at);
  CHECK(after.status().metrics[0].measurements.size() == 2);
  CHECK(after.due(kStart + 600s).empty());
}
