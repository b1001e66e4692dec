// The prometheus provider against a real Prometheus scraping a test service we control.
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "analysis_test_util.h"
#include "child_process.h"
#include "healthcheck/analysis/analysis_runner.h"
#include "test_http_server.h"

using namespace sluice;
using namespace sluice::analysis;
using namespace sluice::testing;
namespace fs = std::filesystem;

namespace {

manifests::Metric prom(const std::string& address, const std::string& query,
                       Duration timeout = Duration{2000}) {
  manifests::PrometheusMetric p;
  p.address = address;
  p.query = query;
  p.timeout = timeout;
  manifests::Metric m;
  m.name = "prom";
  m.provider = p;
  return m;
}

// A real Prometheus on a loopback port scraping `target` every second, in a temp dir.
class PrometheusServer {
 public:
  explicit PrometheusServer(int target_port) {
    char tmpl[] = "/tmp/sluice-prom-XXXXXX";
    dir_ = mkdtemp(tmpl);
    port_ = pick_free_port();
    std::ofstream(dir_ + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: target\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << target_port << "']\n";
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"prometheus", "--config.file=" + dir_ + "/prometheus.yml",
                                 "--storage.tsdb.path=" + dir_ + "/data",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        std::vector<std::string>{}, dir_ + "/prometheus.log");
  }
  ~PrometheusServer() {
    process_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool started() const { return process_->ok(); }

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace

TEST_CASE("prometheus provider: real Prometheus, scalar/vector/empty/NaN/errors", "[prometheus]") {
  std::atomic<int> errors{3};
  TestHttpServer target([&errors](const TestRequest&) {
    TestResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = "test_errors_total{version=\"canary\"} " + std::to_string(errors.load()) +
             "\ntest_errors_total{version=\"stable\"} 1\n";
    return r;
  });
  PrometheusServer prometheus(target.port());
  REQUIRE(prometheus.started());
  ProviderHarness h;

  // Wait (bounded) until Prometheus has scraped the target.
  Measurement m;
  for (int i = 0; i < 60; ++i) {
    m = h.measure(prom(prometheus.url(), "test_errors_total", Duration{500}));
    if (m.phase != AnalysisPhase::kError && m.values.size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  INFO(m.message);
  REQUIRE(m.values.size() == 2);
  CHECK_FALSE(m.value.has_value());
  CHECK(m.query == "test_errors_total");

  auto one = h.measure(prom(prometheus.url(), "sum(test_errors_total)"));
  REQUIRE(one.value);
  CHECK(*one.value == 4);
  CHECK(one.values == std::vector<double>{4});

  auto scalar = h.measure(prom(prometheus.url(), "scalar(test_errors_total{version='canary'})"));
  REQUIRE(scalar.value);
  CHECK(*scalar.value == 3);

  auto empty = h.measure(prom(prometheus.url(), "test_errors_total{version='nope'}"));
  CHECK(empty.phase == AnalysisPhase::kPending);
  CHECK_FALSE(empty.value);
  CHECK(empty.values.empty());

  auto nan = h.measure(prom(prometheus.url(), "0/0"));
  REQUIRE(nan.value);
  CHECK(std::isnan(*nan.value));

  auto bad = h.measure(prom(prometheus.url(), "sum(("));
  CHECK(bad.phase == AnalysisPhase::kError);
  CHECK(bad.message.find("bad_data") != std::string::npos);

  // A full run through the runner: the canary's error counter rises past the condition.
  errors = 50;
  boost::asio::io_context io;
  AnalysisRunnerImpl runner(io.get_executor(), SystemClock::instance(), nullptr);
  AnalysisRunSpec spec;
  spec.name = "run-prom";
  spec.rollout = "orders";
  spec.canary_version = "canary";
  manifests::AnalysisTemplate t;
  auto metric = prom(prometheus.url(), "sum(test_errors_total{version='{{version.canary}}'})");
  metric.name = "errors";
  metric.interval = Duration{300};
  metric.count = 40;
  metric.success_condition = "result < 10";
  t.spec.metrics = {metric};
  spec.templates = {t};
  std::atomic<int> notifications{0};
  runner.set_listener([&](const std::string&, const std::string&) { ++notifications; });
  runner.start(spec);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(100));
    auto s = runner.status("run-prom");
    if (s && is_terminal(s->phase)) break;
  }
  auto s = runner.status("run-prom");
  REQUIRE(s);
  INFO(s->message);
  CHECK(s->phase == AnalysisPhase::kFailed);
  CHECK(s->message.find("metric \"errors\"") != std::string::npos);
  CHECK(s->message.find("last value 50") != std::string::npos);
  CHECK(s->metrics[0].measurements.back().query == "sum(test_errors_total{version='canary'})");
  CHECK(notifications > 0);
}

TEST_CASE("prometheus provider: unreachable, 500, HTML, slow past timeout", "[prometheus]") {
  TestHttpServer fake([](const TestRequest& r) {
    TestResponse resp;
    if (r.target.rfind("/500/", 0) == 0) {
      resp.status = 500;
      resp.content_type = "text/plain";
      resp.body = "internal error";
    } else if (r.target.rfind("/html/", 0) == 0) {
      resp.content_type = "text/html";
      resp.body = "<html><body>login</body></html>";
    } else if (r.target.rfind("/slow/", 0) == 0) {
      resp.delay_ms = 3000;
      resp.body = R"({"status":"success","data":{"resultType":"scalar","result":[1,"1"]}})";
    } else if (r.target.rfind("/matrix/", 0) == 0) {
      resp.body = R"({"status":"success","data":{"resultType":"matrix","result":[]}})";
    } else if (r.target.rfind("/auth/", 0) == 0) {
      resp.body = r.authorization == "Bearer s3cret"
                      ? R"({"status":"success","data":{"resultType":"scalar","result":[1,"7"]}})"
                      : R"({"status":"error","errorType":"auth","error":"no token"})";
      resp.status = r.authorization == "Bearer s3cret" ? 200 : 401;
    }
    return resp;
  });
  ProviderHarness h;
  struct Case {
    std::string address;
    std::string fragment;
  };
  const Case cases[] = {
      {"http://127.0.0.1:1", "connect"},   {fake.url() + "/500", "not JSON"},
      {fake.url() + "/html", "text/html"}, {fake.url() + "/slow", "timed out after 300ms"},
      {fake.url() + "/matrix", "matrix"},  {fake.url() + "/auth", "no token"},
  };
  for (const auto& c : cases) {
    INFO(c.address);
    const auto t0 = std::chrono::steady_clock::now();
    auto m = h.measure(prom(c.address, "up", Duration{300}));
    INFO(m.message);
    CHECK(m.phase == AnalysisPhase::kError);
    CHECK(m.message.find(c.fragment) != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  }
  // Bearer token from a file; the token never appears in the measurement.
  char tmpl[] = "/tmp/sluice-token-XXXXXX";
  const int fd = mkstemp(tmpl);
  REQUIRE(write(fd, "s3cret\n", 7) == 7);
  close(fd);
  auto metric = prom(fake.url() + "/auth", "up");
  std::get<manifests::PrometheusMetric>(metric.provider).token_file = std::string(tmpl);
  auto ok = h.measure(metric);
  unlink(tmpl);
  REQUIRE(ok.value);
  CHECK(*ok.value == 7);
  CHECK(ok.query.find("s3cret") == std::string::npos);
  // The default address comes from the runner options.
  h.env().default_prometheus_address = "";
  auto none = h.measure(prom("", "up"));
  CHECK(none.message.find("no Prometheus address") != std::string::npos);
}
