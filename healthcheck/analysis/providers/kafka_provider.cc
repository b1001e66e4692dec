// kafka: a consumer group's lag on a topic, read through the admin API (kafka_admin.h).
// Metrics: lag (sum over partitions of log-end offset - committed offset), max-partition-lag,
// lag-growth (change of the lag per second since the run's previous measurement of this metric;
// the first reports 0). A partition the group never committed counts from the earliest retained
// offset, so a group that never committed lags by everything retained; a topic that does not
// exist is an Error ("topic X does not exist"), as is a broker that is down or slow (after
// env.default_timeout at most).
//
// Threads: librdkafka's calls block, so measurements queue to one worker thread this provider
// owns, which keeps one client per bootstrapServers string (recreated after an error) and posts
// each result to env.executor. The previous samples of lag-growth are guarded by a mutex
// (forget_run comes from the executor).
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "healthcheck/analysis/kafka_admin.h"
#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

namespace {

// Measurements waiting for the worker beyond this are answered with an Error at once: a broker
// that is down makes each one take the whole timeout.
constexpr size_t kMaxQueued = 64;

class KafkaProvider final : public Provider {
 public:
  explicit KafkaProvider(const ProviderEnv& env) : env_(env), worker_([this] { work(); }) {}
  ~KafkaProvider() override { shutdown(); }

  void measure(const manifests::Metric& metric, const MeasureContext& context, Done done) override {
    const auto& k = std::get<manifests::KafkaMetric>(metric.provider);
    Job job;
    job.spec = k;
    job.key = context.run + "/" + metric.name;
    job.started = env_.clock->now();
    job.query = "kafka " + k.bootstrap_servers + " group=" + k.consumer_group +
                " topic=" + k.topic + " metric=" + k.metric;
    // Tracked: the executor's context keeps running while a measurement is in flight.
    job.executor =
        boost::asio::prefer(env_.executor, boost::asio::execution::outstanding_work.tracked);
    job.done = std::move(done);
    std::string refused;
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        refused = "kafka: the provider is shutting down";
      } else if (queue_.size() >= kMaxQueued) {
        refused =
            "kafka: " + std::to_string(kMaxQueued) + " measurements already wait for the broker";
      } else {
        queue_.push_back(std::move(job));
        wake_.notify_one();
        return;
      }
    }
    reply(job, error_measurement(*env_.clock, job.started, job.query, refused));
  }

  void forget_run(const std::string& run) override {
    std::lock_guard lock(mu_);
    const std::string prefix = run + "/";
    for (auto it = previous_.lower_bound(prefix);
         it != previous_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = previous_.erase(it);
    }
  }

  // The call in flight finishes (bounded by env.default_timeout); queued ones get an Error.
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      wake_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
  }

 private:
  struct Job {
    manifests::KafkaMetric spec;
    std::string key;  // "<run>/<metric>": lag-growth's previous sample
    std::string query;
    TimePoint started{};
    boost::asio::any_io_executor executor;
    Done done;
  };
  struct Sample {
    TimePoint at{};
    int64_t lag = 0;
  };

  static void reply(Job& job, Measurement m) {
    // Move `done` out so this thread never holds the last reference to the runner.
    boost::asio::post(job.executor, [done = std::move(job.done), m = std::move(m)]() { done(m); });
  }

  void work() {
    while (true) {
      Job job;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) break;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      reply(job, run(job));
    }
    std::deque<Job> left;
    {
      std::lock_guard lock(mu_);
      left.swap(queue_);
    }
    for (Job& job : left) {
      reply(job, error_measurement(*env_.clock, job.started, job.query,
                                   "kafka: the provider shut down"));
    }
    connections_.clear();
  }

  // On the worker thread.
  Measurement run(const Job& job) {
    auto err = [&](const std::string& reason) {
      return error_measurement(*env_.clock, job.started, job.query, "kafka: " + reason);
    };
    auto& connection = connections_[job.spec.bootstrap_servers];
    if (!connection) {
      auto opened = KafkaConnection::open(
          job.spec.bootstrap_servers,
          std::chrono::duration_cast<std::chrono::milliseconds>(env_.default_timeout));
      if (!opened) return err(opened.status().message());
      connection = std::move(*opened);
    }
    const auto deadline = std::chrono::steady_clock::now() + env_.default_timeout;
    auto lag = connection->read_lag(job.spec.consumer_group, job.spec.topic, deadline);
    if (!lag) {
      // A fresh client next time: librdkafka's own reconnect backoff and cached broker state
      // would otherwise delay the recovery after a broker restart.
      if (lag.status().code() != StatusCode::kNotFound) connection.reset();
      return err(lag.status().message());
    }
    Measurement m;
    m.phase = AnalysisPhase::kPending;
    m.query = job.query;
    m.started_at = job.started;
    m.finished_at = env_.clock->now();
    m.topic = job.spec.topic;
    m.topic_partitions = static_cast<int>(lag->partitions.size());
    const std::string& metric = job.spec.metric;
    if (metric == "lag") {
      m.value = static_cast<double>(lag->total);
    } else if (metric == "max-partition-lag") {
      m.value = static_cast<double>(lag->max_partition);
    } else if (metric == "lag-growth") {
      std::lock_guard lock(mu_);
      auto prev = previous_.find(job.key);
      double per_second = 0;
      if (prev != previous_.end()) {
        const double seconds =
            std::chrono::duration<double>(m.finished_at - prev->second.at).count();
        if (seconds > 0) per_second = static_cast<double>(lag->total - prev->second.lag) / seconds;
      }
      previous_[job.key] = Sample{m.finished_at, lag->total};
      m.value = per_second;
    } else {
      return err("unknown metric \"" + metric + "\"");
    }
    m.message = std::to_string(lag->partitions.size()) + " partition(s), lag " +
                std::to_string(lag->total) + " (max " + std::to_string(lag->max_partition) +
                " on one partition), " + std::to_string(lag->uncommitted_partitions) +
                " without a committed offset";
    return m;
  }

  ProviderEnv env_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<Job> queue_;
  std::map<std::string, Sample> previous_;  // "<run>/<metric>" -> last lag-growth sample
  // Worker thread only.
  std::map<std::string, std::unique_ptr<KafkaConnection>> connections_;
  std::thread worker_;  // last: starts after the members it uses exist
};

}  // namespace

ProviderFactory kafka_provider_factory() {
  return [](const ProviderEnv& env) { return std::make_unique<KafkaProvider>(env); };
}

}  // namespace sluice::analysis
