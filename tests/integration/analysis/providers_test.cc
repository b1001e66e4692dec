// web, job, scrape, builtin and judge providers against real HTTP endpoints and processes.
#include <catch2/catch.hpp>
#include <cmath>

#include "analysis_test_util.h"
#include "test_http_server.h"

using namespace sluice;
using namespace sluice::analysis;
using namespace sluice::testing;

namespace {

manifests::Metric web_metric(const std::string& url, const std::string& path) {
  manifests::WebMetric w;
  w.url = url;
  w.json_path = path;
  w.timeout = Duration{500};
  manifests::Metric m;
  m.name = "web";
  m.provider = w;
  return m;
}

manifests::Metric job_metric(std::vector<std::string> argv, Duration timeout = Duration{5000}) {
  manifests::JobMetric j;
  j.command = std::move(argv);
  j.timeout = timeout;
  manifests::Metric m;
  m.name = "job";
  m.provider = j;
  return m;
}

}  // namespace

TEST_CASE("web provider: JSONPath selection, POST, errors", "[web]") {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    if (r.target == "/stats") {
      resp.body = R"({"data": {"errorRate": 0.02, "ok": true, "s": "1.5", "list": [1, 2, 3],
                      "name": "x"}})";
    } else if (r.target == "/echo" && r.method == "POST") {
      resp.body = R"({"len": )" + std::to_string(r.body.size()) + "}";
    } else if (r.target == "/slow") {
      resp.delay_ms = 3000;
      resp.body = "{}";
    } else if (r.target == "/html") {
      resp.content_type = "text/html";
      resp.body = "<html>oops</html>";
    } else if (r.target == "/big") {
      resp.body = "[" + std::string(2 << 20, ' ') + "]";
    } else {
      resp.status = 500;
      resp.body = "boom";
    }
    return resp;
  });
  ProviderHarness h;
  auto m = h.measure(web_metric(server.url() + "/stats", "$.data.errorRate"));
  CHECK(m.phase == AnalysisPhase::kPending);
  REQUIRE(m.value);
  CHECK(*m.value == Approx(0.02));
  CHECK(m.query == "GET " + server.url() + "/stats $.data.errorRate");
  CHECK(*h.measure(web_metric(server.url() + "/stats", "$.data.ok")).value == 1);
  CHECK(*h.measure(web_metric(server.url() + "/stats", "$['data'].s")).value == 1.5);
  auto vec = h.measure(web_metric(server.url() + "/stats", "$.data.list"));
  CHECK_FALSE(vec.value);
  CHECK(vec.values == std::vector<double>{1, 2, 3});
  CHECK(*h.measure(web_metric(server.url() + "/stats", "$.data.list[2]")).value == 3);

  auto post = web_metric(server.url() + "/echo", "$.len");
  std::get<manifests::WebMetric>(post.provider).method = "POST";
  std::get<manifests::WebMetric>(post.provider).body = "hello";
  CHECK(*h.measure(post).value == 5);

  struct Bad {
    std::string url;
    std::string path;
    std::string fragment;
  };
  const Bad bad[] = {
      {server.url() + "/stats", "$.data.name", "not a number"},
      {server.url() + "/stats", "$.data.missing", "no such field"},
      {server.url() + "/stats", "$.data.list[9]", "no such element"},
      {server.url() + "/html", "$.x", "not JSON"},
      {server.url() + "/nope", "$.x", "HTTP 500"},
      {server.url() + "/slow", "$.x", "timed out after 500ms"},
      {server.url() + "/big", "$", "larger than"},
      {"http://127.0.0.1:1/x", "$", "connect"},
      // https to a server that speaks only http: the TLS handshake fails, and says so.
      {"https://" + server.url().substr(std::string("http://").size()) + "/stats", "$",
       "TLS handshake"},
  };
  for (const auto& b : bad) {
    INFO(b.url << " " << b.path);
    auto e = h.measure(web_metric(b.url, b.path));
    INFO(e.message);
    CHECK(e.phase == AnalysisPhase::kError);
    CHECK(e.message.find(b.fragment) != std::string::npos);
  }
}

TEST_CASE("job provider: exit codes, output tail, timeout", "[job]") {
  ProviderHarness h;
  auto ok = h.measure(job_metric({"/bin/true"}));
  CHECK(ok.phase == AnalysisPhase::kSuccessful);
  CHECK(*ok.value == 1);
  CHECK(ok.query == "/bin/true");
  auto fail = h.measure(job_metric({"/bin/false"}));
  CHECK(fail.phase == AnalysisPhase::kFailed);
  CHECK(*fail.value == 0);
  CHECK(fail.message.find("exit 1") != std::string::npos);
  // No shell: the argument is passed verbatim, output is kept.
  auto echo = h.measure(job_metric({"echo", "hello $HOME; world"}));
  CHECK(echo.message.find("hello $HOME; world") != std::string::npos);
  const auto t0 = std::chrono::steady_clock::now();
  auto slow = h.measure(job_metric({"/bin/sleep", "10"}, Duration{300}));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  CHECK(slow.phase == AnalysisPhase::kError);
  CHECK(slow.message.find("timed out after 300ms") != std::string::npos);
  auto missing = h.measure(job_metric({"/nonexistent/binary"}));
  CHECK(missing.phase == AnalysisPhase::kError);
  CHECK(missing.message.find("cannot start") != std::string::npos);
}

TEST_CASE("scrape provider: sum, value, rate over real endpoints with garbage", "[scrape]") {
  std::atomic<int> jobs{100};
  auto handler = [&jobs](const TestRequest&) {
    TestResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body =
        "# HELP jobs_failed_total Failed jobs\n"
        "# TYPE jobs_failed_total counter\n"
        "jobs_failed_total{queue=\"a\"} " +
        std::to_string(jobs.load()) +
        "\n"
        "jobs_failed_total{queue=\"b\"} 10 1700000000000\n"
        "this is garbage\n"
        "jobs_failed_total{queue=\"c\" 5\n"
        "other_metric NaN\n";
    return r;
  };
  TestHttpServer a(handler), b(handler);
  FixedMetricsSource src;
  src.urls[2] = {a.url() + "/metrics", b.url() + "/metrics"};
  ProviderHarness h(&src);
  manifests::ScrapeMetric s;
  s.metric = "jobs_failed_total";
  s.aggregate = "sum";
  manifests::Metric m;
  m.name = "failed";
  m.provider = s;
  auto sum = h.measure(m);
  INFO(sum.message);
  REQUIRE(sum.value);
  CHECK(*sum.value == 220);  // (100 + 10) * 2 instances
  CHECK(sum.message.find("4 garbage line(s)") != std::string::npos);
  std::get<manifests::ScrapeMetric>(m.provider).aggregate = "value";
  CHECK(*h.measure(m).value == 110);

  std::get<manifests::ScrapeMetric>(m.provider).aggregate = "rate";
  jobs = 100;
  auto first = h.measure(m);  // baseline + 1 s
  REQUIRE(first.value);
  CHECK(*first.value == 0);
  jobs = 150;
  auto second = h.measure(m);
  REQUIRE(second.value);
  CHECK(*second.value > 0);  // 100 more failures across 2 instances since the last scrape

  std::get<manifests::ScrapeMetric>(m.provider).metric = "absent_metric";
  std::get<manifests::ScrapeMetric>(m.provider).aggregate = "sum";
  auto absent = h.measure(m);
  CHECK(absent.phase == AnalysisPhase::kError);
  CHECK(absent.message.find("no metric named absent_metric") != std::string::npos);
  src.urls[2] = {};
  auto none = h.measure(m);
  CHECK(none.phase == AnalysisPhase::kError);
  CHECK(none.message.find("no running instances") != std::string::npos);
}

TEST_CASE("builtin and judge providers read the metrics source", "[builtin][judge]") {
  FixedMetricsSource src;
  src.stats[2] = RequestStats{200, 4, 35.5, 10};
  src.counts[2] = InstanceCounts{4, 3, 2};
  ProviderHarness h(&src);
  auto builtin = [](const std::string& metric, const std::string& version = "canary") {
    manifests::BuiltinMetric b;
    b.metric = metric;
    b.version = version;
    manifests::Metric m;
    m.name = metric;
    m.provider = b;
    return m;
  };
  CHECK(*h.measure(builtin("request-success-rate")).value == Approx(0.98));
  CHECK(*h.measure(builtin("request-duration-p99")).value == Approx(35.5));
  CHECK(*h.measure(builtin("request-rate")).value == Approx(20));
  CHECK(*h.measure(builtin("restarts")).value == 2);
  CHECK(*h.measure(builtin("ready-ratio")).value == Approx(0.75));
  auto no_stats = h.measure(builtin("request-success-rate", "stable"));
  CHECK(no_stats.phase == AnalysisPhase::kError);
  CHECK(h.measure(builtin("bogus")).phase == AnalysisPhase::kError);

  manifests::JudgeMetric j;
  j.metric = "request-duration-p99";
  j.direction = "increase";
  j.allowed_increase = 1.1;
  manifests::Metric jm;
  jm.name = "judge";
  jm.provider = j;
  for (int i = 0; i < 40; ++i) {
    src.sample_values[1].push_back(100 + i % 7);
    src.sample_values[2].push_back(150 + i % 7);
  }
  auto high = h.measure(jm);
  CHECK(high.phase == AnalysisPhase::kFailed);
  CHECK(high.message.rfind("High", 0) == 0);
  src.sample_values[2] = src.sample_values[1];
  CHECK(h.measure(jm).phase == AnalysisPhase::kSuccessful);
  src.sample_values[2] = {1};
  auto nodata = h.measure(jm);
  CHECK(nodata.phase == AnalysisPhase::kInconclusive);
  CHECK(nodata.message.rfind("NoData", 0) == 0);
}
