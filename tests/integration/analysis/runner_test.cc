// AnalysisRunnerImpl end to end with real timers: builtin and job metrics.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "analysis_test_util.h"
#include "healthcheck/analysis/analysis_runner.h"

using namespace sluice;
using namespace sluice::analysis;
using namespace sluice::testing;

namespace {

AnalysisRunSpec spec_for(std::vector<manifests::Metric> metrics, const std::string& name) {
  AnalysisRunSpec spec;
  spec.name = name;
  spec.rollout = "orders";
  spec.stable_revision = 1;
  spec.canary_revision = 2;
  manifests::AnalysisTemplate t;
  t.spec.metrics = std::move(metrics);
  spec.templates = {t};
  return spec;
}

std::optional<AnalysisRunStatus> run_until_done(boost::asio::io_context& io,
                                                AnalysisRunnerImpl& runner,
                                                const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    auto s = runner.status(name);
    if (s && is_terminal(s->phase)) return s;
  }
  return runner.status(name);
}

}  // namespace

TEST_CASE("runner: builtin success rate run succeeds after count measurements", "[runner]") {
  FixedMetricsSource src;
  src.stats[2] = RequestStats{1000, 1, 20, 30};
  boost::asio::io_context io;
  AnalysisRunnerImpl runner(io.get_executor(), SystemClock::instance(), &src);
  std::vector<std::string> notified;
  runner.set_listener([&](const std::string& rollout, const std::string& run) {
    notified.push_back(rollout + "/" + run);
  });
  manifests::Metric m;
  m.name = "success-rate";
  m.interval = Duration{50};
  m.count = 3;
  m.success_condition = "result >= 0.99";
  m.provider = manifests::BuiltinMetric{"request-success-rate", "canary", Duration{30000}};
  runner.start(spec_for({m}, "r1"));
  runner.start(spec_for({m}, "r1"));  // a second start is a no-op
  auto s = run_until_done(io, runner, "r1");
  REQUIRE(s);
  CHECK(s->phase == AnalysisPhase::kSuccessful);
  CHECK(s->metrics[0].count == 3);
  CHECK(notified.size() == 3);
  CHECK(notified[0] == "orders/r1");
  runner.forget("r1");
  CHECK_FALSE(runner.status("r1"));
}

TEST_CASE("runner: a failing job fails the run, terminate stops a background run", "[runner]") {
  boost::asio::io_context io;
  AnalysisRunnerImpl runner(io.get_executor(), SystemClock::instance(), nullptr);
  manifests::Metric job;
  job.name = "smoke";
  job.provider = manifests::JobMetric{{"/bin/false"}, Duration{2000}};
  runner.start(spec_for({job}, "r2"));
  auto s = run_until_done(io, runner, "r2");
  REQUIRE(s);
  CHECK(s->phase == AnalysisPhase::kFailed);
  CHECK(s->message.find("metric \"smoke\"") != std::string::npos);
  REQUIRE_FALSE(s->metrics[0].measurements.empty());
  CHECK(s->metrics[0].measurements[0].query == "/bin/false");

  manifests::Metric bg;
  bg.name = "bg";
  bg.interval = Duration{30};
  bg.provider = manifests::JobMetric{{"/bin/true"}, Duration{2000}};
  runner.start(spec_for({bg}, "r3"));
  for (int i = 0; i < 200; ++i) {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
    auto st = runner.status("r3");
    if (st && st->metrics[0].count >= 2) break;
  }
  runner.terminate("r3");
  auto st = runner.status("r3");
  REQUIRE(st);
  INFO(nlohmann::json(*st).dump());
  CHECK(st->phase == AnalysisPhase::kSuccessful);
  CHECK(st->metrics[0].count >= 2);
  const int count = st->metrics[0].count;
  io.restart();
  io.run_for(std::chrono::milliseconds(200));
  CHECK(runner.status("r3")->metrics[0].count == count);  // no measurements after terminate

  // Provider errors (no metrics source) count as consecutive errors, not exceptions.
  manifests::Metric builtin;
  builtin.name = "b";
  builtin.interval = Duration{10};
  builtin.consecutive_error_limit = 2;
  builtin.provider = manifests::BuiltinMetric{};
  runner.start(spec_for({builtin}, "r4"));
  auto e = run_until_done(io, runner, "r4");
  REQUIRE(e);
  CHECK(e->phase == AnalysisPhase::kError);
  CHECK(e->message.find("consecutiveErrorLimit 2") != std::string::npos);
}
