#include "examples/services/common/consumer_http.h"

namespace sluice::examples {

ConsumerMetricsText::ConsumerMetricsText(const std::string& version)
    : labels_("{version=\"" + prom_escape(version) + "\",role=\"" + prom_escape(current_role()) +
              "\"} ") {}

void ConsumerMetricsText::add(const char* name, const char* type, const char* help,
                              uint64_t value) {
  text_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + labels_ + std::to_string(value) + "\n";
}

HttpResponse handle_consumer_request(const HttpRequest& req, const ConsumerEndpoints& endpoints) {
  HttpResponse res;
  res.headers.push_back({"X-Version", endpoints.version});
  if (req.path == "/healthz") {
    const bool ready = endpoints.ready();
    res.status = ready ? 200 : 503;
    res.body =
        ready ? "{\"status\":\"ok\"}" : "{\"status\":\"" + json_escape(endpoints.not_ready) + "\"}";
    return res;
  }
  if (req.path == "/metrics") {
    res.content_type = "text/plain; version=0.0.4";
    res.body = endpoints.metrics();
    return res;
  }
  if (req.path == "/admin/activate" || req.path == "/admin/deactivate") {
    if (req.method != "POST") {
      res.status = 405;
      res.body = "{\"error\":\"use POST\"}";
      return res;
    }
    if (req.path == "/admin/activate") {
      const bool active = endpoints.activate();
      res.status = active ? 200 : 503;
      res.body = active ? "{\"active\":true}"
                        : "{\"active\":false,\"error\":\"" +
                              json_escape(endpoints.activate_failed) + "\"}";
      return res;
    }
    const DeactivateResult r = endpoints.deactivate();
    res.status = r.done ? 200 : 504;
    res.body = "{\"processed\":" + std::to_string(r.processed) +
               ",\"inFlightFinished\":" + std::to_string(r.in_flight_finished) + "}";
    return res;
  }
  res.status = 404;
  res.body = "{\"error\":\"not found\"}";
  return res;
}

}  // namespace sluice::examples
