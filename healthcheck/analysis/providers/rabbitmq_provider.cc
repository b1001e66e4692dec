// rabbitmq: the management HTTP API, GET /api/queues/{vhost}/{queue} with basic auth.
// Fields: messages_ready, messages_unacknowledged, messages, consumers (queue counters) and
// ack_rate, publish_rate (message_stats.<ack|publish>_details.rate; 0 when the queue has not
// seen such messages yet). The password is read from password_file and never logged.
#include <boost/asio/post.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/redact.h"
#include "base/http_client.h"
#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

namespace {

class RabbitmqProvider final : public Provider {
 public:
  explicit RabbitmqProvider(const ProviderEnv& env) : env_(env) {}

  void measure(const manifests::Metric& metric, const MeasureContext& /*context*/,
               Done done) override {
    const auto& q = std::get<manifests::RabbitmqMetric>(metric.provider);
    const TimePoint started = env_.clock->now();
    std::string base = q.url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    HttpRequest req;
    req.url = base + "/api/queues/" + url_encode(q.vhost) + "/" + url_encode(q.queue);
    req.timeout = env_.default_timeout;
    req.max_body_bytes = env_.max_response_bytes;
    const std::string query = "GET " + redact_url(req.url) + " " + q.field;
    std::string password = "guest";
    if (q.password_file) {
      std::ifstream in(*q.password_file);
      std::stringstream ss;
      ss << in.rdbuf();
      password = ss.str();
      while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
        password.pop_back();
      if (!in) {
        Measurement m = error_measurement(*env_.clock, started, query,
                                          "cannot read password_file " + *q.password_file);
        boost::asio::post(env_.executor, [done = std::move(done), m]() { done(m); });
        return;
      }
    }
    req.headers.emplace_back("Authorization",
                             "Basic " + base64_encode(q.username + ":" + password));
    const Clock* clock = env_.clock;
    const std::string field = q.field;
    http_fetch(env_.executor, std::move(req),
               [clock, started, query, field, done = std::move(done)](Result<HttpResponse> r) {
                 done(interpret(*clock, started, query, field, std::move(r)));
               });
  }

 private:
  static Measurement interpret(const Clock& clock, TimePoint started, const std::string& query,
                               const std::string& field, Result<HttpResponse> r) {
    auto err = [&](std::string message) {
      return error_measurement(clock, started, query, std::move(message));
    };
    if (!r) return err("rabbitmq: " + r.status().message());
    if (r->status == 404) return err("rabbitmq: queue not found (HTTP 404)");
    if (r->status == 401) return err("rabbitmq: authentication failed (HTTP 401)");
    if (r->status != 200) return err("rabbitmq: HTTP " + std::to_string(r->status));
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return err("rabbitmq: response is not a JSON object");
    Measurement m;
    m.phase = AnalysisPhase::kPending;
    m.query = query;
    m.started_at = started;
    if (field == "messages_ready" || field == "messages_unacknowledged" || field == "messages" ||
        field == "consumers") {
      auto it = j.find(field);
      // A freshly declared queue may not report its counters until the first stats emission.
      m.value = (it != j.end() && it->is_number()) ? it->get<double>() : 0.0;
    } else if (field == "ack_rate" || field == "publish_rate") {
      const std::string key = field == "ack_rate" ? "ack_details" : "publish_details";
      double rate = 0;
      if (auto s = j.find("message_stats"); s != j.end() && s->is_object()) {
        if (auto d = s->find(key); d != s->end() && d->is_object()) {
          if (auto v = d->find("rate"); v != d->end() && v->is_number()) rate = v->get<double>();
        }
      }
      m.value = rate;
    } else {
      return err("rabbitmq: unknown field \"" + field + "\"");
    }
    m.finished_at = clock.now();
    return m;
  }

  ProviderEnv env_;
};

}  // namespace

ProviderFactory rabbitmq_provider_factory() {
  return [](const ProviderEnv& env) { return std::make_unique<RabbitmqProvider>(env); };
}

}  // namespace sluice::analysis
