// orders-worker: the example RabbitMQ consumer Sluice rolls out blue-green
// (docs/consumer-rollouts.md, examples/gitops/services/orders-worker.yaml).
//
//   orders-worker --port P [--version V (env SLUICE_VERSION)] [--queue Q] [--prefetch N]
//   [--start-active]
//                 [--fail-rate R] [--fail-mode ack|requeue] [--work-ms MS]
//                 [--processed-log F] [--activation-log F] [--amqp-url URL] [--port-file F]
//
// HTTP: GET /healthz (200 once connected to the broker, else 503), GET /metrics,
// POST /admin/activate, POST /admin/deactivate (answers only after every delivered message is
// finished and acked). Starts inactive unless --start-active. SIGTERM: deactivate, exit 0.
#include <cstdio>
#include <cstdlib>

#include "examples/services/common/consumer_http.h"
#include "examples/services/common/http_server.h"
#include "examples/services/common/service_util.h"
#include "examples/services/orders-worker/worker.h"

namespace sluice::examples {
namespace {

std::string render_metrics(const Worker& worker, const std::string& version) {
  WorkerCounters c = worker.counters();
  ConsumerMetricsText out(version);
  out.add("worker_messages_processed_total", "counter", "Messages processed and acked.",
          c.processed);
  out.add("worker_messages_failed_total", "counter",
          "Messages that failed (acked and dropped, or nacked with requeue).", c.failed);
  out.add("worker_duplicates_total", "counter",
          "Redeliveries of an already processed message id (acked, not processed again).",
          c.duplicates);
  out.add("worker_active", "gauge", "1 while a consumer is registered with the broker.",
          c.active ? 1 : 0);
  out.add("worker_connected", "gauge", "1 while connected to the broker.", c.connected ? 1 : 0);
  return out.text();
}

int run(int argc, char** argv) {
  block_termination_signals();
  Flags flags(argc, argv,
              {"port", "port-file", "version", "queue", "prefetch", "fail-rate", "fail-mode",
               "work-ms", "processed-log", "activation-log", "amqp-url", "deactivate-timeout-ms"},
              {"start-active"});
  if (!flags.has("port")) die("--port is required");
  long port = flags.get_int("port", nullptr, 0, 0, 65535);
  WorkerOptions options;
  std::string url = flags.get("amqp-url", "AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/");
  auto parsed = parse_amqp_url(url);
  if (!parsed) die("AMQP URL: " + parsed.status().message());
  options.url = parsed.value();
  options.version = flags.get("version", "SLUICE_VERSION", "dev");
  options.queue = flags.get("queue", nullptr, "orders");
  options.prefetch = static_cast<int>(flags.get_int("prefetch", "PREFETCH", 10, 1, 65535));
  options.fail_rate = flags.get_double("fail-rate", "FAIL_RATE", 0, 0, 1);
  std::string fail_mode = flags.get("fail-mode", "FAIL_MODE", "ack");
  if (fail_mode != "ack" && fail_mode != "requeue") die("--fail-mode must be ack or requeue");
  options.fail_requeue = fail_mode == "requeue";
  options.work_ms = static_cast<int>(flags.get_int("work-ms", "WORK_MS", 0, 0, 60'000));
  options.start_active = flags.get("start-active", nullptr, "false") == "true";
  options.processed_log = flags.get("processed-log", nullptr, "");
  options.activation_log = flags.get("activation-log", nullptr, "");
  int deactivate_timeout_ms =
      static_cast<int>(flags.get_int("deactivate-timeout-ms", nullptr, 120'000, 0, 3'600'000));

  Worker worker(options);
  worker.start();
  const ConsumerEndpoints endpoints{options.version,
                                    [&] { return worker.counters().connected; },
                                    "not connected to the broker",
                                    [&] { return render_metrics(worker, options.version); },
                                    [&] { return worker.activate(10'000); },
                                    "not connected to the broker yet; will consume once connected",
                                    [&] { return worker.deactivate(deactivate_timeout_ms); }};
  HttpServer server(
      [&](const HttpRequest& req) { return handle_consumer_request(req, endpoints); });
  if (Status s = server.listen(static_cast<uint16_t>(port)); !s) die(s.message());
  server.start();
  write_port_file(flags.get("port-file", nullptr, ""), server.port());
  std::fprintf(stderr, "orders-worker %s listening on 127.0.0.1:%u, queue %s, %s\n",
               options.version.c_str(), server.port(), options.queue.c_str(),
               options.start_active ? "active" : "inactive until /admin/activate");

  int sig = wait_for_termination();
  std::fprintf(stderr, "orders-worker: signal %d, deactivating\n", sig);
  DeactivateResult r = worker.deactivate(deactivate_timeout_ms);
  std::fprintf(stderr, "orders-worker: deactivated (%s), processed %llu, in-flight finished %llu\n",
               r.done ? "clean" : "timed out", static_cast<unsigned long long>(r.processed),
               static_cast<unsigned long long>(r.in_flight_finished));
  server.shutdown(std::chrono::milliseconds(2000));
  worker.stop();
  return 0;
}

}  // namespace
}  // namespace sluice::examples

int main(int argc, char** argv) { return sluice::examples::run(argc, argv); }
