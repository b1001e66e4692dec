// The ConsumersExceedPartitions warning: Kafka gives each partition to one consumer of a group,
// so consumers beyond the topic's partition count sit idle. The topic's partition count comes
// from the kafka analysis provider (Measurement::topic_partitions, read through the provider's
// connection when a `kafka` gate names the topic); the consumers a rollout may run at once come
// from the strategy:
// - rollingUpdate and canary: replicas + maxSurge. Both versions consume in one group during the
//   move, so that many members may share the topic's partitions.
// - blueGreen: max(replicas, previewReplicaCount). Only the active version consumes (the preview
//   is deactivated until the switch), so the larger of the two colours is what must fit.
#include <fmt/format.h>

#include <algorithm>

#include "controller/controller.h"
#include "strategies/replica_math.h"

namespace sluice::controller {

namespace {

struct ConsumerBound {
  int consumers = 0;
  std::string formula;  // how `consumers` was computed, for the message
};

ConsumerBound max_consumers(const manifests::RolloutSpec& spec) {
  if (const auto* bg = std::get_if<manifests::BlueGreenStrategy>(&spec.strategy)) {
    const int preview = bg->preview_replica_count > 0 ? bg->preview_replica_count : spec.replicas;
    return {std::max(spec.replicas, preview), "max(replicas, previewReplicaCount)"};
  }
  strategies::RollingBudget budget;
  if (const auto* canary = std::get_if<manifests::CanaryStrategy>(&spec.strategy)) {
    budget = strategies::resolve_budget(spec.replicas, canary->max_surge, canary->max_unavailable);
  } else if (const auto* rolling = std::get_if<manifests::RollingUpdateStrategy>(&spec.strategy)) {
    budget =
        strategies::resolve_budget(spec.replicas, rolling->max_surge, rolling->max_unavailable);
  }
  return {budget.max_total(), "replicas + maxSurge"};
}

bool already_recorded(const std::vector<nlohmann::json>& events, const std::string& rollout,
                      int64_t revision) {
  return std::any_of(events.rbegin(), events.rend(), [&](const nlohmann::json& e) {
    return e.value("reason", "") == "ConsumersExceedPartitions" &&
           e.value("rollout", "") == rollout && e.value("revision", int64_t{0}) == revision;
  });
}

}  // namespace

bool Controller::note_consumers_exceed_partitions(RolloutState& state, Runtime& live) {
  const ConsumerBound bound = max_consumers(state.spec);
  for (const auto& run : state.analysis_runs) {
    if (run.revision == 0 || live.partition_warnings.count(run.revision)) continue;
    for (const auto& metric : run.metrics) {
      if (metric.provider != "kafka") continue;
      // The newest measurement that read the topic.
      auto read = std::find_if(metric.measurements.rbegin(), metric.measurements.rend(),
                               [](const analysis::Measurement& m) { return m.topic_partitions; });
      if (read == metric.measurements.rend()) continue;
      const int partitions = *read->topic_partitions;
      if (bound.consumers <= partitions) continue;
      live.partition_warnings.insert(run.revision);
      if (already_recorded(events_, state.name, run.revision)) return false;
      const int idle = bound.consumers - partitions;
      strategies::Transition t;
      t.reason = "ConsumersExceedPartitions";
      t.revision = run.revision;
      t.message = fmt::format(
          "{} = {} exceeds the {} partitions of topic {}: at least {} consumer{} will be idle",
          bound.formula, bound.consumers, partitions, read->topic, idle, idle == 1 ? "" : "s");
      record(state, t, "controller", state.status.phase,
             {{"topic", read->topic},
              {"partitions", partitions},
              {"consumers", bound.consumers},
              {"analysisRun", run.name},
              {"metric", metric.name}});
      return true;
    }
  }
  return false;
}

}  // namespace sluice::controller
