#include "healthcheck/analysis/analysis_runner.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <mutex>

#include "healthcheck/analysis/analysis_run.h"

namespace sluice::analysis {

namespace asio = boost::asio;

struct RunEntry {
  RunEntry(const AnalysisRunSpec& s, TimePoint now, uint64_t gen, const asio::any_io_executor& ex)
      : spec(s), state(s, now), generation(gen), timer(ex) {}
  AnalysisRunSpec spec;
  MeasureContext context;
  AnalysisRunState state;
  uint64_t generation;
  asio::steady_timer timer;
};

struct AnalysisRunnerImpl::Inner : std::enable_shared_from_this<AnalysisRunnerImpl::Inner> {
  asio::any_io_executor executor;
  const Clock* clock = nullptr;
  ProviderEnv env;
  ProviderRegistry registry;
  mutable std::mutex mu;
  std::map<std::string, std::unique_ptr<RunEntry>> runs;
  std::map<std::string, std::unique_ptr<Provider>> providers;
  Listener listener;
  uint64_t next_generation = 1;
  bool shut_down = false;

  Provider* provider(const std::string& name) {
    auto it = providers.find(name);
    if (it != providers.end()) return it->second.get();
    auto p = registry.create(name, env);
    if (!p) return nullptr;
    return (providers[name] = std::move(p)).get();
  }

  void notify(const std::string& rollout, const std::string& run) {
    Listener l;
    {
      std::lock_guard lock(mu);
      l = listener;
    }
    if (l) l(rollout, run);
  }

  // Caller holds mu.
  void schedule(RunEntry& run) {
    run.timer.cancel();
    if (run.state.done() || shut_down) return;
    auto due = run.state.next_due();
    if (!due) return;  // waiting for in-flight measurements
    const Duration delay = std::max(Duration{0}, *due - clock->now());
    run.timer.expires_after(std::chrono::milliseconds(delay.count()));
    std::weak_ptr<Inner> weak = shared_from_this();
    run.timer.async_wait(
        [weak, name = run.spec.name, gen = run.generation](const boost::system::error_code& ec) {
          if (ec) return;
          if (auto self = weak.lock()) self->tick(name, gen);
        });
  }

  void tick(const std::string& name, uint64_t generation) {
    struct Job {
      size_t index;
      manifests::Metric metric;
      Provider* provider;
    };
    std::vector<Job> jobs;
    MeasureContext context;
    std::string rollout;
    std::vector<std::pair<size_t, Measurement>> immediate;
    {
      std::lock_guard lock(mu);
      auto it = runs.find(name);
      if (it == runs.end() || it->second->generation != generation || shut_down) return;
      RunEntry& run = *it->second;
      context = run.context;
      rollout = run.spec.rollout;
      const TimePoint now = clock->now();
      for (size_t i : run.state.due(now)) {
        run.state.begin(i, now);
        const manifests::Metric& metric = run.state.metric(i).metric;
        const std::string provider_name = manifests::provider_name(metric.provider);
        Provider* p = provider(provider_name);
        if (!p) {
          immediate.emplace_back(
              i, error_measurement(*clock, now, "", "no provider named " + provider_name));
          continue;
        }
        jobs.push_back(Job{i, metric, p});
      }
      schedule(run);
    }
    for (auto& [index, m] : immediate) on_measurement(name, generation, index, std::move(m));
    for (auto& job : jobs) {
      // The callback keeps Inner (and so the provider) alive until the measurement ends.
      job.provider->measure(
          job.metric, context,
          [self = shared_from_this(), name, generation, index = job.index](Measurement m) {
            self->on_measurement(name, generation, index, std::move(m));
          });
    }
  }

  void on_measurement(const std::string& name, uint64_t generation, size_t index, Measurement m) {
    std::string rollout;
    bool finished = false;
    {
      std::lock_guard lock(mu);
      auto it = runs.find(name);
      if (it == runs.end() || it->second->generation != generation || shut_down) return;
      RunEntry& run = *it->second;
      if (run.state.done()) return;
      run.state.complete(index, std::move(m), clock->now());
      rollout = run.spec.rollout;
      finished = run.state.done();
      if (finished) {
        run.timer.cancel();
        for (auto& [pname, p] : providers) p->forget_run(name);
      } else {
        schedule(run);
      }
    }
    notify(rollout, name);
  }
};

AnalysisRunnerImpl::AnalysisRunnerImpl(asio::any_io_executor executor, const Clock& clock,
                                       MetricsSource* metrics, AnalysisRunnerOptions options,
                                       ProviderRegistry registry)
    : inner_(std::make_shared<Inner>()) {
  inner_->executor = executor;
  inner_->clock = &clock;
  inner_->env.executor = executor;
  inner_->env.clock = &clock;
  inner_->env.metrics = metrics;
  inner_->env.default_prometheus_address = options.default_prometheus_address;
  inner_->env.max_response_bytes = options.max_response_bytes;
  inner_->env.default_timeout = options.default_timeout;
  inner_->registry = std::move(registry);
}

AnalysisRunnerImpl::~AnalysisRunnerImpl() {
  std::vector<Provider*> providers;
  {
    std::lock_guard lock(inner_->mu);
    inner_->shut_down = true;
    for (auto& [name, run] : inner_->runs) run->timer.cancel();
    inner_->runs.clear();
    inner_->listener = nullptr;
    for (auto& [name, p] : inner_->providers) providers.push_back(p.get());
  }
  // Without the lock: a finishing job posts its result, which takes the lock and is dropped.
  for (Provider* p : providers) p->shutdown();
}

void AnalysisRunnerImpl::start(const AnalysisRunSpec& spec) {
  bool failed_at_start = false;
  {
    std::lock_guard lock(inner_->mu);
    if (inner_->runs.count(spec.name)) return;
    auto run = std::make_unique<RunEntry>(spec, inner_->clock->now(), inner_->next_generation++,
                                          inner_->executor);
    run->context.run = spec.name;
    run->context.rollout = spec.rollout;
    run->context.stable_revision = spec.stable_revision;
    run->context.canary_revision = spec.canary_revision;
    failed_at_start = run->state.done();
    RunEntry& ref = *run;
    inner_->runs[spec.name] = std::move(run);
    inner_->schedule(ref);
  }
  if (failed_at_start) inner_->notify(spec.rollout, spec.name);
}

void AnalysisRunnerImpl::terminate(const std::string& name) {
  std::string rollout;
  {
    std::lock_guard lock(inner_->mu);
    auto it = inner_->runs.find(name);
    if (it == inner_->runs.end() || it->second->state.done()) return;
    it->second->state.terminate(inner_->clock->now());
    it->second->timer.cancel();
    for (auto& [pname, p] : inner_->providers) p->forget_run(name);
    rollout = it->second->spec.rollout;
  }
  inner_->notify(rollout, name);
}

void AnalysisRunnerImpl::forget(const std::string& name) {
  std::lock_guard lock(inner_->mu);
  auto it = inner_->runs.find(name);
  if (it == inner_->runs.end()) return;
  it->second->timer.cancel();
  inner_->runs.erase(it);
  for (auto& [pname, p] : inner_->providers) p->forget_run(name);
}

std::optional<AnalysisRunStatus> AnalysisRunnerImpl::status(const std::string& name) const {
  std::lock_guard lock(inner_->mu);
  auto it = inner_->runs.find(name);
  if (it == inner_->runs.end()) return std::nullopt;
  return it->second->state.status();
}

void AnalysisRunnerImpl::set_listener(Listener listener) {
  std::lock_guard lock(inner_->mu);
  inner_->listener = std::move(listener);
}

}  // namespace sluice::analysis
