#include "healthcheck/analysis/provider.h"

namespace sluice::analysis {

std::unique_ptr<Provider> ProviderRegistry::create(const std::string& name,
                                                   const ProviderEnv& env) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) return nullptr;
  return it->second(env);
}

ProviderRegistry ProviderRegistry::with_defaults() {
  ProviderRegistry r;
  r.add("builtin", builtin_provider_factory());
  r.add("prometheus", prometheus_provider_factory());
  r.add("scrape", scrape_provider_factory());
  r.add("web", web_provider_factory());
  r.add("job", job_provider_factory());
  r.add("rabbitmq", rabbitmq_provider_factory());
  r.add("kafka", kafka_provider_factory());
  r.add("judge", judge_provider_factory());
  return r;
}

Measurement error_measurement(const Clock& clock, TimePoint started, std::string query,
                              std::string message) {
  Measurement m;
  m.phase = AnalysisPhase::kError;
  m.query = std::move(query);
  m.message = std::move(message);
  m.started_at = started;
  m.finished_at = clock.now();
  return m;
}

Result<int64_t> revision_for(const std::string& version, const MeasureContext& context) {
  if (version == "canary" || version == "preview") return context.canary_revision;
  if (version == "stable") return context.stable_revision;
  return invalid_argument("version must be canary, stable or preview (got \"" + version + "\")");
}

}  // namespace sluice::analysis
