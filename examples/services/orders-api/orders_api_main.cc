// orders-api: the example HTTP service Sluice rolls out by canary (docs/consumer-rollouts.md,
// examples/gitops/services/orders-api.yaml).
//
//   orders-api --port P [--version V (env SLUICE_VERSION)] [--error-rate R] [--latency-ms MS]
//              [--publish-queue Q] [--port-file F] [--shutdown-timeout-ms MS]
//
// GET /healthz, GET /metrics (Prometheus text), anything else: 200 with a small JSON body (or
// 500 with probability --error-rate, after --latency-ms). Every 200 publishes one persistent
// event to RabbitMQ when AMQP_URL is set. SIGTERM: stop accepting, finish in-flight requests,
// exit 0.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <thread>

#include "examples/services/common/amqp_connection.h"
#include "examples/services/common/http_server.h"
#include "examples/services/common/service_util.h"
#include "examples/services/orders-api/api_metrics.h"
#include "examples/services/orders-api/publisher.h"

namespace sluice::examples {
namespace {

struct Config {
  std::string version;
  double error_rate = 0;
  long latency_ms = 0;
};

double uniform01() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

HttpResponse handle(const HttpRequest& req, const Config& config, ApiMetrics& metrics,
                    Publisher* publisher, std::atomic<uint64_t>& next_order) {
  HttpResponse res;
  res.headers.push_back({"X-Version", config.version});
  if (req.path == "/healthz") {
    res.body = "{\"status\":\"ok\",\"version\":\"" + json_escape(config.version) + "\"}";
    return res;
  }
  if (req.path == "/metrics") {
    res.content_type = "text/plain; version=0.0.4";
    res.body = metrics.render(current_role(), publisher ? publisher->published() : 0,
                              publisher ? publisher->dropped() : 0);
    return res;
  }
  auto started = std::chrono::steady_clock::now();
  metrics.begin_request();
  if (config.latency_ms > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(config.latency_ms));
  }
  uint64_t order = next_order.fetch_add(1) + 1;
  std::string id = config.version + "-" + std::to_string(::getpid()) + "-" + std::to_string(order);
  if (config.error_rate > 0 && uniform01() < config.error_rate) {
    res.status = 500;
    res.body =
        "{\"error\":\"injected failure\",\"version\":\"" + json_escape(config.version) + "\"}";
  } else {
    res.body = "{\"service\":\"orders-api\",\"version\":\"" + json_escape(config.version) +
               "\",\"method\":\"" + json_escape(req.method) + "\",\"path\":\"" +
               json_escape(req.path) + "\",\"orderId\":\"" + id + "\"}";
    if (publisher != nullptr) {
      publisher->enqueue({id, "{\"event\":\"order-request\",\"id\":\"" + id + "\",\"method\":\"" +
                                  json_escape(req.method) + "\",\"path\":\"" +
                                  json_escape(req.path) + "\",\"version\":\"" +
                                  json_escape(config.version) + "\"}"});
    }
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics.end_request(res.status, seconds);
  return res;
}

int run(int argc, char** argv) {
  block_termination_signals();
  Flags flags(argc, argv,
              {"port", "port-file", "version", "error-rate", "latency-ms", "publish-queue",
               "shutdown-timeout-ms"},
              {});
  if (!flags.has("port")) die("--port is required");
  Config config;
  long port = flags.get_int("port", nullptr, 0, 0, 65535);
  config.version = flags.get("version", "SLUICE_VERSION", "dev");
  config.error_rate = flags.get_double("error-rate", "ERROR_RATE", 0, 0, 1);
  config.latency_ms = flags.get_int("latency-ms", "LATENCY_MS", 0, 0, 600'000);
  std::string queue = flags.get("publish-queue", nullptr, "orders");
  long shutdown_ms = flags.get_int("shutdown-timeout-ms", nullptr, 25'000, 0, 600'000);

  std::unique_ptr<Publisher> publisher;
  if (const char* url = std::getenv("AMQP_URL"); url != nullptr && *url != '\0') {
    auto parsed = parse_amqp_url(url);
    if (!parsed) die("AMQP_URL: " + parsed.status().message());
    publisher = std::make_unique<Publisher>(parsed.value(), queue);
    publisher->start();
  }

  ApiMetrics metrics(config.version);
  std::atomic<uint64_t> next_order{0};
  HttpServer server([&](const HttpRequest& req) {
    return handle(req, config, metrics, publisher.get(), next_order);
  });
  if (Status s = server.listen(static_cast<uint16_t>(port)); !s) die(s.message());
  server.start();
  write_port_file(flags.get("port-file", nullptr, ""), server.port());
  std::fprintf(stderr, "orders-api %s listening on 127.0.0.1:%u%s\n", config.version.c_str(),
               server.port(), publisher ? " (publishing)" : " (standalone)");

  int sig = wait_for_termination();
  std::fprintf(stderr, "orders-api: signal %d, draining\n", sig);
  bool clean = server.shutdown(std::chrono::milliseconds(shutdown_ms));
  if (publisher) publisher->stop(1000);
  if (!clean) {
    std::fprintf(stderr, "orders-api: requests still running after %ld ms; exiting\n", shutdown_ms);
    std::fflush(stderr);
    std::_Exit(0);
  }
  return 0;
}

}  // namespace
}  // namespace sluice::examples

int main(int argc, char** argv) { return sluice::examples::run(argc, argv); }
