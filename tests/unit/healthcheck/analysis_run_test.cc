#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "healthcheck/analysis/analysis_run.h"

using namespace sluice;
using namespace sluice::analysis;
using namespace std::chrono_literals;

namespace {

const TimePoint kStart = from_unix_ms(1'767'225'600'000);

manifests::Metric metric(const std::string& name) {
  manifests::Metric m;
  m.name = name;
  manifests::PrometheusMetric p;
  p.address = "http://127.0.0.1:9090";
  p.query = "up{job='{{args.job}}'}";
  m.provider = p;
  return m;
}

AnalysisRunSpec spec_with(std::vector<manifests::Metric> metrics) {
  AnalysisRunSpec s;
  s.name = "orders-7-step-2";
  s.rollout = "orders";
  s.stable_revision = 6;
  s.canary_revision = 7;
  s.stable_version = "1.0";
  s.canary_version = "1.1";
  manifests::AnalysisTemplate t;
  t.metadata.name = "t";
  t.spec.args = {{"job", std::string("api")}};
  t.spec.metrics = std::move(metrics);
  s.templates = {t};
  return s;
}

Measurement value(double v) {
  Measurement m;
  m.value = v;
  return m;
}

Measurement error(const std::string& why) {
  Measurement m;
  m.phase = AnalysisPhase::kError;
  m.message = why;
  return m;
}

// Drives the run like the runner does: at each step, measure every due metric with the next
// scripted measurement, then advance to the next due time.
void drive(AnalysisRunState& run, TimePoint& now, const std::vector<Measurement>& script,
           size_t max_steps = 100) {
  size_t next = 0;
  for (size_t step = 0; step < max_steps && !run.done() && next < script.size(); ++step) {
    for (size_t i : run.due(now)) {
      if (next >= script.size()) break;
      run.begin(i, now);
      Measurement m = script[next++];
      m.started_at = now;
      run.complete(i, m, now);
    }
    auto due = run.next_due();
    if (!due) break;
    now = std::max(now, *due);
  }
}

}  // namespace

TEST_CASE("analysis run: conditions decide each measurement (Argo table)", "[analysis]") {
  struct Case {
    const char* success;
    const char* failure;
    double value;
    AnalysisPhase want;
  };
  const Case cases[] = {
      {"result >= 0.99", "result < 0.90", 0.995, AnalysisPhase::kSuccessful},
      {"result >= 0.99", "result < 0.90", 0.95, AnalysisPhase::kInconclusive},
      {"result >= 0.99", "result < 0.90", 0.85, AnalysisPhase::kFailed},
      {"result >= 0.99", "", 0.95, AnalysisPhase::kFailed},
      {"result >= 0.99", "", 0.999, AnalysisPhase::kSuccessful},
      {"", "result < 0.90", 0.95, AnalysisPhase::kSuccessful},
      {"", "result < 0.90", 0.5, AnalysisPhase::kFailed},
      {"", "", 0.5, AnalysisPhase::kSuccessful},
      {"result[3] > 1", "", 0.5, AnalysisPhase::kError},  // index out of range: Error
  };
  for (const auto& c : cases) {
    INFO(c.success << " / " << c.failure << " with " << c.value);
    ResolvedMetric rm;
    if (*c.success) rm.success = std::move(manifests::Condition::parse(c.success)).value();
    if (*c.failure) rm.failure = std::move(manifests::Condition::parse(c.failure)).value();
    CHECK(assess_measurement(rm, value(c.value)).phase == c.want);
  }
  // A vector result: an empty Prometheus vector makes result[0] an Error, len() works.
  ResolvedMetric rm;
  rm.success = std::move(manifests::Condition::parse("result[0] > 1")).value();
  Measurement empty;
  CHECK(assess_measurement(rm, empty).phase == AnalysisPhase::kError);
  rm.success = std::move(manifests::Condition::parse("len(result) == 0")).value();
  CHECK(assess_measurement(rm, empty).phase == AnalysisPhase::kSuccessful);
}

TEST_CASE("analysis run: count, interval and initialDelay timing", "[analysis]") {
  auto m = metric("rate");
  m.initial_delay = 10s;
  m.interval = 5s;
  m.count = 3;
  m.success_condition = "result >= 1";
  AnalysisRunState run(spec_with({m}), kStart);
  CHECK(run.status().phase == AnalysisPhase::kRunning);
  CHECK(run.due(kStart).empty());
  REQUIRE(run.next_due() == kStart + 10s);
  TimePoint now = kStart;
  std::vector<TimePoint> times;
  for (int i = 0; i < 3; ++i) {
    now = *run.next_due();
    times.push_back(now);
    REQUIRE(run.due(now) == std::vector<size_t>{0});
    run.begin(0, now);
    CHECK(run.due(now).empty());  // in flight
    CHECK_FALSE(run.next_due().has_value());
    now += 1s;  // the measurement takes a second
    run.complete(0, value(1), now);
  }
  CHECK(times == std::vector<TimePoint>{kStart + 10s, kStart + 16s, kStart + 22s});
  CHECK(run.status().phase == AnalysisPhase::kSuccessful);
  CHECK(run.status().metrics[0].count == 3);
  CHECK(run.status().finished_at == now);
}

TEST_CASE("analysis run: limits decide the run (tables with a fake clock)", "[analysis]") {
  struct Case {
    const char* name;
    int failure_limit;
    int inconclusive_limit;
    int consecutive_error_limit;
    std::optional<int> count;
    std::vector<Measurement> script;
    AnalysisPhase want;
    const char* message_fragment;
  };
  const Case cases[] = {
      {"first failure fails with failureLimit 0",
       0,
       0,
       4,
       5,
       {value(0.5)},
       AnalysisPhase::kFailed,
       "failed 1 time(s), more than failureLimit 0; last value 0.5"},
      {"failureLimit 1 tolerates one",
       1,
       0,
       4,
       3,
       {value(0.5), value(1), value(1)},
       AnalysisPhase::kSuccessful,
       "completed 3"},
      {"failureLimit 1 fails on the second",
       1,
       0,
       4,
       5,
       {value(0.5), value(1), value(0.2)},
       AnalysisPhase::kFailed,
       "failed 2 time(s), more than failureLimit 1; last value 0.2"},
      {"failureLimit -1 never fails",
       -1,
       0,
       4,
       3,
       {value(0), value(0), value(0)},
       AnalysisPhase::kSuccessful,
       "completed 3"},
      {"inconclusive over the limit",
       0,
       1,
       4,
       5,
       {value(0.95), value(0.95)},
       AnalysisPhase::kInconclusive,
       "inconclusive 2 time(s), more than inconclusiveLimit 1"},
      {"consecutive errors over the limit",
       0,
       0,
       2,
       10,
       {error("connection refused"), error("connection refused"), error("timed out")},
       AnalysisPhase::kError,
       "3 consecutive errors, more than consecutiveErrorLimit 2; last "
       "error: timed out"},
      {"errors reset by a good measurement",
       0,
       0,
       1,
       4,
       {error("a"), value(1), error("b"), value(1)},
       AnalysisPhase::kSuccessful,
       "completed 4"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto m = metric("success-rate");
    m.interval = 5s;
    m.count = c.count;
    m.failure_limit = c.failure_limit;
    m.inconclusive_limit = c.inconclusive_limit;
    m.consecutive_error_limit = c.consecutive_error_limit;
    m.success_condition = "result >= 0.99";
    m.failure_condition = "result < 0.90";
    AnalysisRunState run(spec_with({m}), kStart);
    TimePoint now = kStart;
    drive(run, now, c.script);
    CHECK(run.status().phase == c.want);
    INFO(run.status().message);
    CHECK(run.status().metrics[0].message.find(c.message_fragment) != std::string::npos);
    if (c.want != AnalysisPhase::kSuccessful) {
      CHECK(run.status().message.find("metric \"success-rate\"") != std::string::npos);
    }
  }
}

TEST_CASE("analysis run: dry-run metrics are measured but never decide", "[analysis]") {
  auto dry = metric("dry");
  dry.dry_run = true;
  dry.count = 2;
  dry.interval = 1s;
  dry.success_condition = "result > 100";
  auto real = metric("real");
  real.count = 2;
  real.interval = 1s;
  real.success_condition = "result >= 0";
  AnalysisRunState run(spec_with({dry, real}), kStart);
  TimePoint now = kStart;
  drive(run, now, {value(1), value(1), value(1), value(1)});
  CHECK(run.status().phase == AnalysisPhase::kSuccessful);
  CHECK(run.status().metrics[0].phase == AnalysisPhase::kFailed);
  CHECK(run.status().metrics[0].dry_run);
  CHECK(run.status().metrics[1].phase == AnalysisPhase::kSuccessful);
}

TEST_CASE("analysis run: one failing metric terminates the others", "[analysis]") {
  auto a = metric("a");
  a.interval = 1s;  // no count: runs until terminated
  a.success_condition = "result >= 1";
  auto b = metric("b");
  b.interval = 1s;
  b.success_condition = "result >= 1";
  AnalysisRunState run(spec_with({a, b}), kStart);
  TimePoint now = kStart;
  drive(run, now, {value(1), value(0)});
  CHECK(run.status().phase == AnalysisPhase::kFailed);
  CHECK(run.status().metrics[0].phase == AnalysisPhase::kSuccessful);
  CHECK(run.status().metrics[1].phase == AnalysisPhase::kFailed);
  CHECK(run.status().message.find("metric \"b\"") != std::string::npos);
  CHECK(run.due(now + 1h).empty());
}

TEST_CASE("analysis run: without count it runs until terminated", "[analysis]") {
  auto m = metric("bg");
  m.interval = 2s;
  m.success_condition = "result >= 1";
  AnalysisRunState run(spec_with({m}), kStart);
  TimePoint now = kStart;
  std::vector<Measurement> many(30, value(1));
  drive(run, now, many, 30);
  CHECK(run.status().phase == AnalysisPhase::kRunning);
  CHECK(run.status().metrics[0].count == 30);
  CHECK(run.status().metrics[0].measurements.size() == kMaxMeasurementsPerMetric);
  // A late result after terminate() is ignored.
  run.begin(0, now);
  run.terminate(now + 1s);
  run.complete(0, value(0), now + 2s);
  CHECK(run.status().phase == AnalysisPhase::kSuccessful);
  CHECK(run.status().metrics[0].count == 30);
}

TEST_CASE("analysis run: neither count nor interval means one measurement", "[analysis]") {
  auto m = metric("once");
  m.success_condition = "result == 1";
  AnalysisRunState run(spec_with({m}), kStart);
  TimePoint now = kStart;
  drive(run, now, {value(1), value(1)});
  CHECK(run.status().phase == AnalysisPhase::kSuccessful);
  CHECK(run.status().metrics[0].count == 1);
}

TEST_CASE("analysis run: a critical judge fails on its first High", "[analysis]") {
  auto m = metric("latency");
  manifests::JudgeMetric j;
  j.metric = "request-duration-p99";
  j.critical = true;
  m.provider = j;
  m.interval = 1s;
  m.count = 5;
  m.failure_limit = 3;
  AnalysisRunState run(spec_with({m}), kStart);
  TimePoint now = kStart;
  Measurement high = value(1.4);
  high.phase = AnalysisPhase::kFailed;
  high.message = "High: canary/stable 1.4 > allowedIncrease 1.1";
  drive(run, now, {high});
  CHECK(run.status().phase == AnalysisPhase::kFailed);
  CHECK(run.status().message.find("critical") != std::string::npos);
}

TEST_CASE("analysis run: args and built-in variables", "[analysis]") {
  auto spec = spec_with({});
  spec.args = {{"job", std::string("orders")}};
  auto vars = build_vars(spec);
  REQUIRE(vars.is_ok());
  auto s = substitute(
      "{{args.job}} {{ rollout }} {{version.stable}}->{{version.canary}} r{{revision.stable}}"
      "->r{{revision.canary}}",
      *vars);
  REQUIRE(s.is_ok());
  CHECK(*s == "orders orders 1.0->1.1 r6->r7");
  CHECK_FALSE(substitute("{{args.nope}}", *vars).is_ok());
  CHECK_FALSE(substitute("x {{args.job", *vars).is_ok());
  CHECK(*substitute("no vars", *vars) == "no vars");

  // A template arg with no value anywhere is an Error run naming it.
  auto missing = spec_with({metric("m")});
  missing.templates[0].spec.args.push_back({"service", std::nullopt});
  AnalysisRunState run(missing, kStart);
  CHECK(run.status().phase == AnalysisPhase::kError);
  CHECK(run.status().message.find("args.service") != std::string::npos);

  // The query as sent has the args substituted.
  AnalysisRunState ok(spec_with({metric("m")}), kStart);
  const auto& p = std::get<manifests::PrometheusMetric>(ok.metric(0).metric.provider);
  CHECK(p.query == "up{job='api'}");
}

TEST_CASE("analysis run: a bad condition is an Error run, not a crash", "[analysis]") {
  auto m = metric("m");
  m.success_condition = "result >>= 1";
  AnalysisRunState run(spec_with({m}), kStart);
  CHECK(run.status().phase == AnalysisPhase::kError);
  CHECK(run.status().message.find("successCondition") != std::string::npos);
  CHECK(run.due(kStart).empty());
}

TEST_CASE("analysis run: status JSON", "[analysis]") {
  auto m = metric("m");
  m.success_condition = "result >= 1";
  AnalysisRunState run(spec_with({m}), kStart);
  TimePoint now = kStart;
  drive(run, now, {value(std::numeric_limits<double>::quiet_NaN())});
  nlohmann::json j = run.status();
  CHECK(j["phase"] == "Failed");
  CHECK(j["metrics"][0]["measurements"][0]["value"] == "NaN");
  CHECK(j["metrics"][0]["measurements"][0]["phase"] == "Failed");
  CHECK(j["metrics"][0]["provider"] == "prometheus");
  CHECK(j["startedAt"] == "2026-01-01T00:00:00.000Z");
  CHECK(std::string(phase_name(AnalysisPhase::kInconclusive)) == "Inconclusive");
  CHECK(is_terminal(AnalysisPhase::kError));
  CHECK_FALSE(is_terminal(AnalysisPhase::kRunning));
}

TEST_CASE("analysis run: the status names its revision and the conditions as judged",
          "[analysis]") {
  // Readers (the dashboard's threshold line, abort evidence) show what the values were compared
  // with, so the conditions are kept with their args substituted.
  auto m = metric("m");
  m.success_condition = "result >= {{args.min}}";
  m.failure_condition = "result < 0.5";
  auto spec = spec_with({m});
  spec.templates[0].spec.args.push_back({"min", std::string("0.95")});
  AnalysisRunState run(spec, kStart);
  REQUIRE(run.status().phase == AnalysisPhase::kRunning);
  CHECK(run.status().revision == 7);
  REQUIRE(run.status().metrics.size() == 1);
  CHECK(run.status().metrics[0].success_condition == "result >= 0.95");
  CHECK(run.status().metrics[0].failure_condition == "result < 0.5");
  nlohmann::json j = run.status();
  CHECK(j["revision"] == 7);
  CHECK(j["metrics"][0]["successCondition"] == "result >= 0.95");
  CHECK(j["metrics"][0]["failureCondition"] == "result < 0.5");
}
