// The HTTP surface the example consumers (orders-worker, orders-stream) share: GET /healthz,
// GET /metrics, POST /admin/activate and POST /admin/deactivate (Sluice's lifecycle hooks).
//
// Threads: handle_consumer_request() runs on the HTTP server's connection threads; the
// callbacks must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "examples/services/common/http_server.h"
#include "examples/services/common/service_util.h"

namespace sluice::examples {

// What a deactivation reports: {"processed":N,"inFlightFinished":M}, 200 when done, else 504.
struct DeactivateResult {
  bool done = false;  // false: timed out (deactivation continues in the background)
  uint64_t processed = 0;
  uint64_t in_flight_finished = 0;
};

struct ConsumerEndpoints {
  std::string version;                   // sent as X-Version
  std::function<bool()> ready;           // /healthz: 200 when true
  std::string not_ready;                 // the 503 body's status
  std::function<std::string()> metrics;  // Prometheus text
  std::function<bool()> activate;        // true once consuming
  std::string activate_failed;           // the 503 body's error
  std::function<DeactivateResult()> deactivate;
};

// Prometheus text in which every sample is labelled {version="V",role="R"}, the role read from
// SLUICE_ROLE_FILE once, when this is made (so the label follows promotions).
class ConsumerMetricsText {
 public:
  explicit ConsumerMetricsText(const std::string& version);
  void add(const char* name, const char* type, const char* help, uint64_t value);
  const std::string& text() const { return text_; }

 private:
  std::string labels_;
  std::string text_;
};

HttpResponse handle_consumer_request(const HttpRequest& req, const ConsumerEndpoints& endpoints);

}  // namespace sluice::examples
