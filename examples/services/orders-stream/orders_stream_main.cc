// orders-stream: the example Kafka consumer Sluice rolls out (docs/consumer-rollouts.md,
// examples/gitops/kafka/). It reads orders, "processes" each one and writes one record per input
// to an output topic, at least once and never losing one (stream_processor.h).
//
//   orders-stream --port P [--version V (env SLUICE_VERSION)]
//                 [--brokers HOST:PORT,... (env KAFKA_BOOTSTRAP_SERVERS)]
//                 [--topic orders] [--output-topic orders-processed] [--group orders-stream]
//                 [--start-active] [--fail-rate R] [--latency-ms MS]
//                 [--deactivate-timeout-ms MS] [--port-file F]
//
// HTTP: GET /healthz (200 once the consumer exists and the brokers answered metadata, else
// 503), GET /metrics, POST /admin/activate (join the group), POST /admin/deactivate (answers
// only after in-flight work is finished, flushed, committed and the group left; 504 past
// --deactivate-timeout-ms). Starts inactive unless --start-active. SIGTERM: deactivate, exit 0.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "examples/services/common/http_server.h"
#include "examples/services/common/kafka_client.h"
#include "examples/services/common/service_util.h"
#include "examples/services/orders-stream/stream_processor.h"

namespace sluice::examples {
namespace {

std::string render_metrics(const StreamCounters& c, const std::string& version) {
  const std::string labels =
      "{version=\"" + prom_escape(version) + "\",role=\"" + prom_escape(current_role()) + "\"} ";
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, uint64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + labels + std::to_string(value) + "\n";
  };
  metric("processed_total", "counter", "Input records whose output record the broker acknowledged.",
         c.processed);
  metric("failed_total", "counter", "Processing attempts that failed (each is retried).", c.failed);
  metric("rebalances_total", "counter", "Rebalance callbacks (partitions assigned or revoked).",
         c.rebalances);
  metric("orders_stream_active", "gauge", "1 while subscribed (a member of the group).",
         c.active ? 1 : 0);
  metric("orders_stream_assigned_partitions", "gauge", "Partitions this instance owns.",
         static_cast<uint64_t>(c.assigned_partitions));
  return out;
}

HttpResponse handle(const HttpRequest& req, StreamProcessor& stream, const std::string& version,
                    int deactivate_timeout_ms) {
  HttpResponse res;
  res.headers.push_back({"X-Version", version});
  if (req.path == "/healthz") {
    const bool healthy = stream.counters().healthy;
    res.status = healthy ? 200 : 503;
    res.body =
        healthy ? "{\"status\":\"ok\"}" : "{\"status\":\"the Kafka brokers did not answer\"}";
    return res;
  }
  if (req.path == "/metrics") {
    res.content_type = "text/plain; version=0.0.4";
    res.body = render_metrics(stream.counters(), version);
    return res;
  }
  if (req.path == "/admin/activate" || req.path == "/admin/deactivate") {
    if (req.method != "POST") {
      res.status = 405;
      res.body = "{\"error\":\"use POST\"}";
      return res;
    }
    if (req.path == "/admin/activate") {
      const bool active = stream.activate(10'000);
      res.status = active ? 200 : 503;
      res.body = active ? "{\"active\":true}"
                        : "{\"active\":false,\"error\":\"the Kafka brokers did not answer yet; "
                          "will join the group once they do\"}";
      return res;
    }
    StreamDeactivateResult r = stream.deactivate(deactivate_timeout_ms);
    res.status = r.done ? 200 : 504;
    res.body = "{\"processed\":" + std::to_string(r.processed) +
               ",\"inFlightFinished\":" + std::to_string(r.in_flight_finished) + "}";
    return res;
  }
  res.status = 404;
  res.body = "{\"error\":\"not found\"}";
  return res;
}

int run(int argc, char** argv) {
  block_termination_signals();
  Flags flags(argc, argv,
              {"port", "port-file", "version", "brokers", "topic", "output-topic", "group",
               "fail-rate", "latency-ms", "deactivate-timeout-ms"},
              {"start-active"});
  if (!flags.has("port")) die("--port is required");
  const long port = flags.get_int("port", nullptr, 0, 0, 65535);
  StreamOptions options;
  options.brokers = flags.get("brokers", "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");
  if (Status s = check_loopback_brokers(options.brokers, "--brokers"); !s) die(s.message());
  options.version = flags.get("version", "SLUICE_VERSION", "dev");
  options.topic = flags.get("topic", nullptr, options.topic);
  options.output_topic = flags.get("output-topic", nullptr, options.output_topic);
  options.group = flags.get("group", nullptr, options.group);
  if (options.topic.empty()) die("--topic must not be empty");
  if (options.output_topic.empty()) die("--output-topic must not be empty");
  if (options.output_topic == options.topic) die("--output-topic must differ from --topic");
  if (options.group.empty()) die("--group must not be empty");
  options.fail_rate = flags.get_double("fail-rate", "FAIL_RATE", 0, 0, 1);
  options.latency_ms = static_cast<int>(flags.get_int("latency-ms", "LATENCY_MS", 0, 0, 60'000));
  options.start_active = flags.get("start-active", nullptr, "false") == "true";
  const int deactivate_timeout_ms =
      static_cast<int>(flags.get_int("deactivate-timeout-ms", nullptr, 60'000, 0, 3'600'000));

  // The handler runs only after server.start(), when `stream` is set.
  std::unique_ptr<StreamProcessor> stream;
  HttpServer server([&](const HttpRequest& req) {
    return handle(req, *stream, options.version, deactivate_timeout_ms);
  });
  if (Status s = server.listen(static_cast<uint16_t>(port)); !s) die(s.message());
  options.instance = std::to_string(::getpid()) + "@" + std::to_string(server.port());
  stream = std::make_unique<StreamProcessor>(options);
  stream->start();
  server.start();
  write_port_file(flags.get("port-file", nullptr, ""), server.port());
  std::fprintf(stderr, "orders-stream %s listening on 127.0.0.1:%u, %s -> %s, group %s, %s\n",
               options.version.c_str(), server.port(), options.topic.c_str(),
               options.output_topic.c_str(), options.group.c_str(),
               options.start_active ? "active" : "inactive until /admin/activate");

  const int sig = wait_for_termination();
  std::fprintf(stderr, "orders-stream: signal %d, deactivating\n", sig);
  StreamDeactivateResult r = stream->deactivate(deactivate_timeout_ms);
  std::fprintf(stderr, "orders-stream: deactivated (%s), processed %llu, in-flight finished %llu\n",
               r.done ? "clean" : "timed out", static_cast<unsigned long long>(r.processed),
               static_cast<unsigned long long>(r.in_flight_finished));
  server.shutdown(std::chrono::milliseconds(2000));
  stream->stop();
  return 0;
}

}  // namespace
}  // namespace sluice::examples

int main(int argc, char** argv) { return sluice::examples::run(argc, argv); }
