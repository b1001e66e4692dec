// The rabbitmq provider against a real RabbitMQ broker (management plugin) on loopback.
// If the broker does not become ready within 60 s the test fails with that message.
#include <pwd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "analysis_test_util.h"
#include "child_process.h"
#include "base/http_client.h"
#include "test_http_server.h"

using namespace sluice;
using namespace sluice::analysis;
using namespace sluice::testing;
namespace fs = std::filesystem;

namespace {

// One management API call, synchronously (bounded by its timeout).
Result<HttpResponse> call(const std::string& method, const std::string& url,
                          const std::string& body = "") {
  boost::asio::io_context io;
  HttpRequest req;
  req.method = method;
  req.url = url;
  req.body = body;
  req.timeout = Duration{3000};
  req.headers = {{"Authorization", "Basic " + base64_encode("guest:guest")},
                 {"Content-Type", "application/json"}};
  std::optional<Result<HttpResponse>> out;
  http_fetch(io.get_executor(), req, [&](Result<HttpResponse> r) { out = std::move(r); });
  io.run_for(std::chrono::seconds(5));
  if (!out) return unavailable("no answer");
  return std::move(*out);
}

class RabbitBroker {
 public:
  RabbitBroker() {
    char tmpl[] = "/tmp/sluice-rmq-XXXXXX";
    dir_ = mkdtemp(tmpl);
    amqp_port_ = pick_free_port();
    mgmt_port_ = pick_free_port();
    dist_port_ = pick_free_port();
    epmd_port_ = pick_free_port();
    node_ = "sluice" + std::to_string(getpid()) + "_" + std::to_string(amqp_port_) + "@localhost";
    for (const char* sub : {"mnesia", "log", "plugins-expand"})
      fs::create_directories(dir_ + "/" + sub);
    std::ofstream(dir_ + "/rabbitmq.conf")
        << "listeners.tcp.default = 127.0.0.1:" << amqp_port_ << "\n"
        << "management.tcp.ip = 127.0.0.1\n"
        << "management.tcp.port = " << mgmt_port_ << "\n"
        << "collect_statistics_interval = 500\n"
        << "loopback_users = none\n";
    std::ofstream(dir_ + "/enabled_plugins") << "[rabbitmq_management].\n";
    // The Debian wrapper drops to the rabbitmq user, which must own the dirs.
    if (passwd* pw = getpwnam("rabbitmq")) {
      for (auto& e : fs::recursive_directory_iterator(dir_)) {
        (void)chown(e.path().c_str(), pw->pw_uid, pw->pw_gid);
      }
      (void)chown(dir_.c_str(), pw->pw_uid, pw->pw_gid);
    }
    env_ = {"RABBITMQ_NODENAME=" + node_,
            "RABBITMQ_MNESIA_BASE=" + dir_ + "/mnesia",
            "RABBITMQ_LOG_BASE=" + dir_ + "/log",
            "RABBITMQ_CONFIG_FILE=" + dir_ + "/rabbitmq",
            "RABBITMQ_ENABLED_PLUGINS_FILE=" + dir_ + "/enabled_plugins",
            "RABBITMQ_FEATURE_FLAGS_FILE=" + dir_ + "/feature_flags",
            "RABBITMQ_PLUGINS_EXPAND_DIR=" + dir_ + "/plugins-expand",
            "RABBITMQ_DIST_PORT=" + std::to_string(dist_port_),
            "ERL_EPMD_ADDRESS=127.0.0.1",
            "ERL_EPMD_PORT=" + std::to_string(epmd_port_)};
    server_ = std::make_unique<ChildProcess>(std::vector<std::string>{"rabbitmq-server"}, env_,
                                             dir_ + "/server.out");
  }

  ~RabbitBroker() {
    ChildProcess stop({"rabbitmqctl", "-n", node_, "stop"}, env_, dir_ + "/stop.out");
    stop.wait(std::chrono::milliseconds(20000));
    server_->stop();
    // The epmd on our private port was started by this broker: stop it too.
    ChildProcess epmd({"epmd", "-kill"}, env_, dir_ + "/epmd.out");
    epmd.wait(std::chrono::milliseconds(5000));
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(mgmt_port_); }

  bool wait_ready(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = call("GET", url() + "/api/overview");
      if (r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  }

 private:
  std::string dir_, node_;
  int amqp_port_ = 0, mgmt_port_ = 0, dist_port_ = 0, epmd_port_ = 0;
  std::vector<std::string> env_;
  std::unique_ptr<ChildProcess> server_;
};

manifests::Metric rabbit(const std::string& url, const std::string& queue,
                         const std::string& field) {
  manifests::RabbitmqMetric q;
  q.url = url;
  q.queue = queue;
  q.field = field;
  manifests::Metric m;
  m.name = "queue";
  m.provider = q;
  return m;
}

}  // namespace

TEST_CASE("rabbitmq provider: real broker, messages_ready after publishing", "[rabbitmq]") {
  RabbitBroker broker;
  if (!broker.wait_ready(std::chrono::seconds(60))) {
    FAIL("rabbitmq-server did not become ready within 60 s (management API " << broker.url()
                                                                             << ")");
  }
  auto created = call("PUT", broker.url() + "/api/queues/%2F/orders", R"({"durable":false})");
  REQUIRE(created.is_ok());
  REQUIRE(created->status / 100 == 2);
  for (int i = 0; i < 3; ++i) {
    auto pub = call("POST", broker.url() + "/api/exchanges/%2F/amq.default/publish",
                    R"({"properties":{},"routing_key":"orders","payload":"m)" + std::to_string(i) +
                        R"(","payload_encoding":"string"})");
    REQUIRE(pub.is_ok());
    REQUIRE(pub->body.find("\"routed\":true") != std::string::npos);
  }
  ProviderHarness h;
  Measurement m;
  // Queue counters are refreshed by the stats emitter (every 500 ms here): poll, bounded.
  for (int i = 0; i < 40; ++i) {
    m = h.measure(rabbit(broker.url(), "orders", "messages_ready"));
    if (m.value && *m.value == 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  INFO(m.message);
  REQUIRE(m.value);
  CHECK(*m.value == 3);
  CHECK(m.query.find("/api/queues/%2F/orders") != std::string::npos);
  auto consumers = h.measure(rabbit(broker.url(), "orders", "consumers"));
  REQUIRE(consumers.value);
  CHECK(*consumers.value == 0);
  auto publish = h.measure(rabbit(broker.url(), "orders", "publish_rate"));
  CHECK(publish.phase == AnalysisPhase::kPending);
  REQUIRE(publish.value);
  CHECK(*publish.value >= 0);

  auto missing = h.measure(rabbit(broker.url(), "nope", "messages_ready"));
  CHECK(missing.phase == AnalysisPhase::kError);
  CHECK(missing.message.find("404") != std::string::npos);
  auto bad_field = h.measure(rabbit(broker.url(), "orders", "bogus"));
  CHECK(bad_field.phase == AnalysisPhase::kError);
}
