// web: GET or POST a URL and select a number with a JSONPath subset ($.a.b[0]).
// A JSON number is the value; true/false are 1/0; a numeric string is parsed; an array of
// numbers is a vector result. Anything else is an Error naming what was found.
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/redact.h"
#include "base/http_client.h"
#include "healthcheck/analysis/json_path.h"
#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

namespace {

std::optional<double> to_number(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_boolean()) return j.get<bool>() ? 1.0 : 0.0;
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return v;
  }
  return std::nullopt;
}

class WebProvider final : public Provider {
 public:
  explicit WebProvider(const ProviderEnv& env) : env_(env) {}

  void measure(const manifests::Metric& metric, const MeasureContext& /*context*/,
               Done done) override {
    const auto& w = std::get<manifests::WebMetric>(metric.provider);
    const TimePoint started = env_.clock->now();
    HttpRequest req;
    req.method = w.method.empty() ? "GET" : w.method;
    req.url = w.url;
    req.timeout = w.timeout;
    req.max_body_bytes = env_.max_response_bytes;
    for (const auto& h : w.headers) req.headers.emplace_back(h.name, h.value);
    if (w.body) req.body = *w.body;
    const std::string query =
        req.method + " " + redact_url(w.url) + (w.json_path.empty() ? "" : " " + w.json_path);
    const Clock* clock = env_.clock;
    const std::string path = w.json_path.empty() ? "$" : w.json_path;
    http_fetch(env_.executor, std::move(req),
               [clock, started, query, path, done = std::move(done)](Result<HttpResponse> r) {
                 done(interpret(*clock, started, query, path, std::move(r)));
               });
  }

 private:
  static Measurement interpret(const Clock& clock, TimePoint started, const std::string& query,
                               const std::string& path, Result<HttpResponse> r) {
    auto err = [&](std::string message) {
      return error_measurement(clock, started, query, std::move(message));
    };
    if (!r) return err("web: " + r.status().message());
    if (r->status < 200 || r->status > 299) {
      return err("web: HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 200));
    }
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return err("web: response is not JSON: " + r->body.substr(0, 200));
    auto node = json_path_select(j, path);
    if (!node) return err("web: " + node.status().message());
    Measurement m;
    m.phase = AnalysisPhase::kPending;
    m.query = query;
    m.started_at = started;
    if (auto v = to_number(**node)) {
      m.value = *v;
    } else if ((*node)->is_array()) {
      for (const auto& item : **node) {
        auto v2 = to_number(item);
        if (!v2) return err("web: " + path + " holds an array with a non-number");
        m.values.push_back(*v2);
      }
    } else {
      return err("web: " + path + " is not a number: " + (*node)->dump().substr(0, 100));
    }
    m.finished_at = clock.now();
    return m;
  }

  ProviderEnv env_;
};

}  // namespace

ProviderFactory web_provider_factory() {
  return [](const ProviderEnv& env) { return std::make_unique<WebProvider>(env); };
}

}  // namespace sluice::analysis
