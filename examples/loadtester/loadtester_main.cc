// loadtester: the load-test hook of docs/notifications.md (Flagger's loadtester pattern). A gate
// webhook receiver: a `rollout` (or `pre-rollout`) webhook POSTs Sluice's body to /run, with
//   metadata: {url: "http://127.0.0.1:PORT/path", duration: "10s", connections: "4"}
// and the receiver runs Debian's wrk against that URL (argv, no shell), waits for it, and
// answers 200 when wrk saw no non-2xx/3xx response and no socket error, 500 naming the errors
// otherwise, 400 for a body it cannot use (loopback targets only: load_test.h says why).
//
//   loadtester --port P [--port-file F] [--wrk PATH] [--max-duration-seconds N]
//              [--max-connections N] [--max-runs N]
//
// At most --max-runs (default 2) load tests at once; another request meanwhile gets 503. Give
// the webhook a timeout above the duration (wrk runs the whole duration before it answers).
#include <atomic>
#include <cstdio>

#include "examples/loadtester/load_test.h"
#include "examples/services/common/http_server.h"
#include "examples/services/common/service_util.h"

namespace sluice::examples {
namespace {

std::string error_json(const std::string& message) {
  return "{\"ok\":false,\"message\":\"" + json_escape(message) + "\"}";
}

int run(int argc, char** argv) {
  block_termination_signals();
  Flags flags(argc, argv,
              {"port", "port-file", "wrk", "max-duration-seconds", "max-connections", "max-runs"},
              {});
  if (!flags.has("port")) die("--port is required");
  const long port = flags.get_int("port", nullptr, 0, 0, 65535);
  LoadTestLimits limits;
  limits.wrk = flags.get("wrk", nullptr, "wrk");
  limits.max_duration_seconds =
      static_cast<int>(flags.get_int("max-duration-seconds", nullptr, 60, 1, 3600));
  limits.max_connections = static_cast<int>(flags.get_int("max-connections", nullptr, 64, 1, 10000));
  const long max_runs = flags.get_int("max-runs", nullptr, 2, 1, 64);
  std::atomic<long> running{0};

  HttpServer server([&](const HttpRequest& req) {
    HttpResponse res;
    if (req.path == "/healthz") {
      res.body = "{\"ok\":true}";
      return res;
    }
    if (req.path != "/run" || req.method != "POST") {
      res.status = 404;
      res.body = error_json("POST /run");
      return res;
    }
    auto request = load_test_from_body(req.body, limits);
    if (!request) {
      res.status = 400;
      res.body = error_json(request.status().message());
      std::fprintf(stderr, "loadtester: refused: %s\n", request.status().message().c_str());
      return res;
    }
    if (running.fetch_add(1) >= max_runs) {
      running.fetch_sub(1);
      res.status = 503;
      res.body = error_json("busy: " + std::to_string(max_runs) + " load tests are running");
      return res;
    }
    std::fprintf(stderr, "loadtester: %s: wrk -c %d -d %ds %s\n", request->rollout.c_str(),
                 request->connections, request->duration_seconds, request->url.c_str());
    const LoadTestOutcome outcome = run_load_test(*request, limits);
    running.fetch_sub(1);
    std::fprintf(stderr, "loadtester: %s: %d %s\n", request->rollout.c_str(), outcome.http_status,
                 outcome.json.c_str());
    res.status = outcome.http_status;
    res.body = outcome.json;
    return res;
  });
  if (Status s = server.listen(static_cast<uint16_t>(port)); !s) die(s.message());
  server.start();
  write_port_file(flags.get("port-file", nullptr, ""), server.port());
  std::fprintf(stderr, "loadtester listening on 127.0.0.1:%u\n", server.port());
  wait_for_termination();
  // A load test in progress ends within its duration + 15 s.
  server.shutdown(std::chrono::seconds(75));
  return 0;
}

}  // namespace
}  // namespace sluice::examples

int main(int argc, char** argv) { return sluice::examples::run(argc, argv); }
