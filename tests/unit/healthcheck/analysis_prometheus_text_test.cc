#include <catch2/catch.hpp>
#include <cmath>

#include "healthcheck/analysis/json_path.h"
#include "healthcheck/analysis/judge.h"
#include "healthcheck/analysis/prometheus_text.h"

using namespace sluice::analysis;

TEST_CASE("prometheus text: samples, labels, escapes, special values, garbage", "[scrape]") {
  const char* text =
      "# HELP http_requests_total The total.\n"
      "# TYPE http_requests_total counter\n"
      "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
      "http_requests_total{method=\"post\",code=\"400\",} 3\n"
      "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find "
      "file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\r\n"
      "metric_without_timestamp_and_labels 12.47\n"
      "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
      "nan_metric NaN\n"
      "neg -Inf\n"
      "\n"
      "   \n"
      "garbage line here\n"
      "bad{label=\"unterminated} 1\n"
      "bad2{=\"x\"} 1\n"
      "bad3 1 2 3\n"
      "bad4 0x10\n"
      "bad5{a=\"b\"}1\n"
      "bad6 inf\n";
  PromText t = parse_prometheus_text(text);
  REQUIRE(t.samples.size() == 7);
  CHECK(t.garbage_lines == 7);
  CHECK(t.samples[0].name == "http_requests_total");
  CHECK(t.samples[0].labels.size() == 2);
  CHECK(t.samples[0].labels[1].second == "200");
  CHECK(t.samples[0].timestamp_ms == 1395066363000);
  CHECK(t.samples[1].value == 3);
  CHECK(t.samples[2].labels[0].second == "C:\\DIR\\FILE.TXT");
  CHECK(t.samples[2].labels[1].second == "Cannot find file:\n\"FILE.TXT\"");
  CHECK(t.samples[2].value == Approx(1.458255915e9));
  CHECK(std::isinf(t.samples[4].value));
  CHECK(t.samples[4].timestamp_ms == -3982045);
  CHECK(std::isnan(t.samples[5].value));
  CHECK(t.samples[6].value < 0);
  CHECK(*sum_samples(t, "http_requests_total") == 1030);
  CHECK_FALSE(sum_samples(t, "absent").has_value());

  PromText bounded = parse_prometheus_text("a 1\nb 2\nc 3\n", 2);
  CHECK(bounded.samples.size() == 2);
  CHECK(bounded.dropped_samples == 1);
}

TEST_CASE("json path subset", "[web]") {
  auto j = nlohmann::json::parse(R"({"a": {"b": [10, {"c": 2}]}, "odd key": 5})");
  CHECK(**json_path_select(j, "$.a.b[0]") == 10);
  CHECK(**json_path_select(j, "$.a.b[1].c") == 2);
  CHECK(**json_path_select(j, "$['odd key']") == 5);
  CHECK((*json_path_select(j, "$"))->is_object());
  CHECK_FALSE(json_path_select(j, "a.b").is_ok());
  CHECK_FALSE(json_path_select(j, "$.a.b[2]").is_ok());
  CHECK_FALSE(json_path_select(j, "$.a.x").is_ok());
  CHECK_FALSE(json_path_select(j, "$.a.b[x]").is_ok());
  CHECK_FALSE(json_path_select(j, "$..a").is_ok());
  CHECK_FALSE(json_path_select(j, "$['a").is_ok());
}

TEST_CASE("judge classification: High, Low, Pass, NoData by direction", "[judge]") {
  std::vector<double> stable, slower, faster;
  for (int i = 0; i < 50; ++i) {
    stable.push_back(100 + i % 10);
    slower.push_back(130 + i % 10);
    faster.push_back(70 + i % 10);
  }
  sluice::manifests::JudgeMetric j;
  j.direction = "increase";
  j.allowed_increase = 1.1;
  CHECK(classify(slower, stable, j).classification == "High");
  CHECK(classify(slower, stable, j).phase == AnalysisPhase::kFailed);
  CHECK(classify(faster, stable, j).classification == "Pass");  // a decrease is fine here
  j.allowed_increase = 1.5;  // a significant but allowed increase
  CHECK(classify(slower, stable, j).classification == "Pass");
  j.direction = "decrease";
  j.allowed_decrease = 0.9;
  CHECK(classify(faster, stable, j).classification == "Low");
  CHECK(classify(slower, stable, j).classification == "Pass");
  j.direction = "either";
  j.allowed_increase = 1.1;
  CHECK(classify(slower, stable, j).classification == "High");
  CHECK(classify(faster, stable, j).classification == "Low");
  CHECK(classify(stable, stable, j).classification == "Pass");
  auto nodata = classify({1, 2}, stable, j);
  CHECK(nodata.classification == "NoData");
  CHECK(nodata.phase == AnalysisPhase::kInconclusive);
  CHECK(classify(slower, stable, j).ratio == Approx(134.5 / 104.5));
}
