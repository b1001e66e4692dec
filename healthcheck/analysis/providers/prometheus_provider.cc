// prometheus: an instant query against the HTTP API (GET /api/v1/query).
//
// Result mapping (as Argo Rollouts' Prometheus provider):
//   scalar            -> value
//   vector of one     -> value (and values = [v]), so both `result >= 0.99` and
//                        `result[0] >= 0.99` work
//   vector of n != 1  -> values (value unset); an empty vector reaches the conditions as an empty
//                        vector: `result[0]` is then an evaluation error (Error measurement),
//                        `len(result) == 0` is a way to accept it
//   string / matrix   -> Error
// NaN and ±Inf are values, not errors: conditions decide (isNaN()).
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/http_client.h"
#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

namespace {

std::optional<double> sample_value(const nlohmann::json& pair) {
  // [ <unix time>, "<value>" ]
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) return std::nullopt;
  const std::string s = pair[1].get<std::string>();
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

std::string snippet(const std::string& body) {
  std::string s = body.substr(0, 200);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

class PrometheusProvider final : public Provider {
 public:
  explicit PrometheusProvider(const ProviderEnv& env) : env_(env) {}

  void measure(const manifests::Metric& metric, const MeasureContext& /*context*/,
               Done done) override {
    const auto& p = std::get<manifests::PrometheusMetric>(metric.provider);
    const TimePoint started = env_.clock->now();
    std::string address = p.address.empty() ? env_.default_prometheus_address : p.address;
    while (!address.empty() && address.back() == '/') address.pop_back();
    const std::string query = p.query;
    if (address.empty()) {
      return post_error(done, started, query,
                        "no Prometheus address: set provider.prometheus.address or the server "
                        "default");
    }
    HttpRequest req;
    req.url = address + "/api/v1/query?query=" + url_encode(query);
    req.timeout = p.timeout;
    req.max_body_bytes = env_.max_response_bytes;
    req.headers.emplace_back("Accept", "application/json");
    if (p.token_file) {
      std::ifstream in(*p.token_file);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string token = ss.str();
      while (!token.empty() &&
             (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
        token.pop_back();
      if (!in || token.empty()) {
        // The path is not secret; the token is never put into messages.
        return post_error(done, started, query, "cannot read token_file " + *p.token_file);
      }
      req.headers.emplace_back("Authorization", "Bearer " + token);
    }
    const Clock* clock = env_.clock;
    http_fetch(env_.executor, std::move(req),
               [clock, started, query, done = std::move(done)](Result<HttpResponse> r) {
                 done(interpret(*clock, started, query, std::move(r)));
               });
  }

 private:
  void post_error(Done& done, TimePoint started, const std::string& query, std::string message) {
    Measurement m = error_measurement(*env_.clock, started, query, std::move(message));
    boost::asio::post(env_.executor, [done = std::move(done), m = std::move(m)]() { done(m); });
  }

  static Measurement interpret(const Clock& clock, TimePoint started, const std::string& query,
                               Result<HttpResponse> r) {
    auto err = [&](std::string message) {
      return error_measurement(clock, started, query, std::move(message));
    };
    if (!r) return err("prometheus: " + r.status().message());
    const HttpResponse& resp = *r;
    nlohmann::json j = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return err("prometheus: HTTP " + std::to_string(resp.status) + ", response is not JSON (" +
                 (resp.content_type.empty() ? "no content-type" : resp.content_type) +
                 "): " + snippet(resp.body));
    }
    const std::string status = j.value("status", "");
    if (status != "success") {
      return err("prometheus: HTTP " + std::to_string(resp.status) + ", " +
                 j.value("errorType", "error") + ": " + j.value("error", snippet(resp.body)));
    }
    if (resp.status != 200) return err("prometheus: HTTP " + std::to_string(resp.status));
    const auto data = j.find("data");
    if (data == j.end() || !data->is_object()) return err("prometheus: response has no data");
    const std::string type = data->value("resultType", "");
    const auto result = data->find("result");
    if (result == data->end()) return err("prometheus: response has no data.result");
    Measurement m;
    m.phase = AnalysisPhase::kPending;
    m.query = query;
    m.started_at = started;
    if (type == "scalar") {
      auto v = sample_value(*result);
      if (!v) return err("prometheus: malformed scalar result");
      m.value = *v;
    } else if (type == "vector") {
      if (!result->is_array()) return err("prometheus: malformed vector result");
      for (const auto& series : *result) {
        auto v = series.is_object() && series.contains("value") ? sample_value(series["value"])
                                                                : std::nullopt;
        if (!v) return err("prometheus: malformed vector sample");
        m.values.push_back(*v);
      }
      if (m.values.size() == 1) m.value = m.values[0];
    } else {
      return err("prometheus: result type \"" + type +
                 "\" is not supported (use an instant query returning a scalar or vector)");
    }
    m.finished_at = clock.now();
    return m;
  }

  ProviderEnv env_;
};

}  // namespace

ProviderFactory prometheus_provider_factory() {
  return [](const ProviderEnv& env) { return std::make_unique<PrometheusProvider>(env); };
}

}  // namespace sluice::analysis
