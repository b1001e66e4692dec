// scrape: reads every instance's own /metrics (Prometheus text format, our own parser) and
// aggregates the named metric over the revision's instances:
//   sum    the sum over instances (and over label sets)
//   value  the mean over instances of each instance's sum
//   rate   per-second increase of the summed counter since the previous measurement of this
//          run's metric (counter resets count from zero, as Prometheus' rate()). The first
//          measurement of a run scrapes twice, kRateBaseline apart.
// Any instance that cannot be read, or lacks the metric, makes the measurement an Error naming
// it. Garbage lines are skipped and reported in the message.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <mutex>

#include "base/http_client.h"
#include "healthcheck/analysis/prometheus_text.h"
#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

namespace {

constexpr Duration kRateBaseline{1000};

struct Scrape {
  std::map<std::string, double> per_url;  // url -> summed metric
  size_t garbage_lines = 0;
  TimePoint at{};
};

class ScrapeProvider final : public Provider {
 public:
  explicit ScrapeProvider(const ProviderEnv& env) : env_(env) {}

  void measure(const manifests::Metric& metric, const MeasureContext& context, Done done) override {
    const auto& s = std::get<manifests::ScrapeMetric>(metric.provider);
    const TimePoint started = env_.clock->now();
    auto revision = revision_for(s.version, context);
    std::string query = s.aggregate + "(" + s.metric + ") over " + s.version + " instances";
    auto post_error = [&](std::string message) {
      Measurement m = error_measurement(*env_.clock, started, query, "scrape: " + message);
      boost::asio::post(env_.executor, [done, m]() { done(m); });
    };
    if (!revision) return post_error(revision.status().message());
    if (!env_.metrics) return post_error("no metrics source is configured");
    if (s.aggregate != "sum" && s.aggregate != "value" && s.aggregate != "rate") {
      return post_error("aggregate must be value, sum or rate");
    }
    auto urls = env_.metrics->instance_urls(context.rollout, *revision, s.port, s.path);
    query += " r" + std::to_string(*revision) + " [";
    for (size_t i = 0; i < urls.size(); ++i) query += (i ? " " : "") + urls[i];
    query += "]";
    if (urls.empty()) {
      return post_error("revision " + std::to_string(*revision) + " has no running instances");
    }
    const std::string key = context.run + "/" + metric.name;
    auto finish = [this, s, key, started, query, done](Result<Scrape> r) {
      done(aggregate(s, key, started, query, std::move(r)));
    };
    const bool need_baseline = s.aggregate == "rate" && !has_previous(key);
    if (!need_baseline) return scrape_all(urls, s.metric, finish);
    // First rate measurement: take a baseline, wait, then measure.
    scrape_all(urls, s.metric, [this, urls, s, key, finish](Result<Scrape> base) {
      if (!base) return finish(std::move(base));
      {
        std::lock_guard lock(mu_);
        previous_[key] = std::move(base).value();
      }
      auto timer = std::make_shared<boost::asio::steady_timer>(env_.executor);
      timer->expires_after(std::chrono::milliseconds(kRateBaseline.count()));
      timer->async_wait([this, timer, urls, s, finish](boost::system::error_code) {
        scrape_all(urls, s.metric, finish);
      });
    });
  }

  void forget_run(const std::string& run) override {
    std::lock_guard lock(mu_);
    for (auto it = previous_.begin(); it != previous_.end();) {
      it = it->first.rfind(run + "/", 0) == 0 ? previous_.erase(it) : std::next(it);
    }
  }

 private:
  bool has_previous(const std::string& key) {
    std::lock_guard lock(mu_);
    return previous_.count(key) > 0;
  }

  void scrape_all(const std::vector<std::string>& urls, const std::string& metric,
                  std::function<void(Result<Scrape>)> cb) {
    struct Pending {
      size_t left = 0;
      Scrape scrape;
      std::optional<Status> error;
      std::function<void(Result<Scrape>)> cb;
    };
    auto pending = std::make_shared<Pending>();
    pending->left = urls.size();
    pending->cb = std::move(cb);
    const Clock* clock = env_.clock;
    for (const auto& url : urls) {
      HttpRequest req;
      req.url = url;
      req.timeout = env_.default_timeout;
      req.max_body_bytes = env_.max_response_bytes;
      http_fetch(env_.executor, req, [pending, url, metric, clock](Result<HttpResponse> r) {
        if (!pending->error) {
          if (!r) {
            pending->error = Status(r.status().code(), url + ": " + r.status().message());
          } else if (r->status != 200) {
            pending->error = unavailable(url + ": HTTP " + std::to_string(r->status));
          } else {
            PromText text = parse_prometheus_text(r->body);
            pending->scrape.garbage_lines += text.garbage_lines;
            auto v = sum_samples(text, metric);
            if (!v) {
              pending->error = not_found(url + ": no metric named " + metric + " (" +
                                         std::to_string(text.samples.size()) + " samples, " +
                                         std::to_string(text.garbage_lines) + " garbage lines)");
            } else {
              pending->scrape.per_url[url] = *v;
            }
          }
        }
        if (--pending->left == 0) {
          pending->scrape.at = clock->now();
          if (pending->error) {
            pending->cb(*pending->error);
          } else {
            pending->cb(std::move(pending->scrape));
          }
        }
      });
    }
  }

  Measurement aggregate(const manifests::ScrapeMetric& s, const std::string& key, TimePoint started,
                        const std::string& query, Result<Scrape> r) {
    if (!r)
      return error_measurement(*env_.clock, started, query, "scrape: " + r.status().message());
    const Scrape& now = *r;
    Measurement m;
    m.phase = AnalysisPhase::kPending;
    m.query = query;
    m.started_at = started;
    m.finished_at = env_.clock->now();
    double total = 0;
    for (const auto& [url, v] : now.per_url) total += v;
    if (s.aggregate == "sum") {
      m.value = total;
    } else if (s.aggregate == "value") {
      m.value = total / static_cast<double>(now.per_url.size());
    } else {
      std::lock_guard lock(mu_);
      auto prev = previous_.find(key);
      double increase = 0;
      double seconds = 0;
      if (prev != previous_.end()) {
        for (const auto& [url, v] : now.per_url) {
          auto p = prev->second.per_url.find(url);
          if (p == prev->second.per_url.end()) continue;   // a new instance: no baseline yet
          increase += v >= p->second ? v - p->second : v;  // counter reset
        }
        seconds = std::chrono::duration<double>(now.at - prev->second.at).count();
      }
      if (seconds <= 0) {
        previous_[key] = now;
        return error_measurement(*env_.clock, started, query,
                                 "scrape: no time elapsed since the previous scrape");
      }
      m.value = increase / seconds;
      previous_[key] = now;
    }
    m.message = std::to_string(now.per_url.size()) + " instance(s), " +
                std::to_string(now.garbage_lines) + " garbage line(s) skipped";
    return m;
  }

  ProviderEnv env_;
  std::mutex mu_;
  std::map<std::string, Scrape> previous_;  // "<run>/<metric>" -> last scrape
};

}  // namespace

ProviderFactory scrape_provider_factory() {
  return [](const ProviderEnv& env) { return std::make_unique<ScrapeProvider>(env); };
}

}  // namespace sluice::analysis
