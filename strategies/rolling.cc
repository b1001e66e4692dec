// rollingUpdate, and the replica-count canary's shared moves: Kubernetes Deployment semantics.
#include "strategies/strategy_context.h"

namespace sluice::strategies::detail {

namespace {

const manifests::RollingUpdateStrategy* rolling_of(const manifests::RolloutSpec& spec) {
  return std::get_if<manifests::RollingUpdateStrategy>(&spec.strategy);
}

RollingBudget budget_of(const Context& c) {
  if (const auto* r = rolling_of(c.spec)) {
    return resolve_budget(c.replicas(), r->max_surge, r->max_unavailable);
  }
  const auto& canary = std::get<manifests::CanaryStrategy>(c.spec.strategy);
  return resolve_budget(c.replicas(), canary.max_surge, canary.max_unavailable);
}

}  // namespace

// Moves towards the targets within the budget; returns whether the move has converged.
// Sets replicas and weights (proportional to ready instances: without a router the split of
// traffic or work is the split of instances).
bool rolling_move(Context& c, std::vector<ScaleTarget> targets, int64_t fallback_weight_rev) {
  for (auto& t : targets) {
    t.desired = c.desired(t.revision);
    t.ready = c.ready(t.revision);
  }
  std::map<int64_t, int> next;
  if (c.hold) {
    for (const auto& t : targets) next[t.revision] = t.desired;
  } else {
    next = rolling_step(budget_of(c), targets);
  }
  std::vector<std::pair<int64_t, int>> ready;
  for (auto& t : targets) {
    t.desired = next[t.revision];
    c.decision.replicas[t.revision] = t.desired;
    ready.emplace_back(t.revision, std::min(t.ready, t.desired));
  }
  c.decision.weights = weights_from_ready(ready, fallback_weight_rev);
  return rolling_converged(targets);
}

void decide_rolling(Context& c) {
  const int64_t update = c.update();
  std::vector<ScaleTarget> targets{{update, 0, 0, c.replicas()}, {c.stable(), 0, 0, 0}};
  for (int64_t rev : c.others()) targets.push_back({rev, 0, 0, 0});
  const bool done = rolling_move(c, targets, c.stable());
  if (done && !c.hold) {
    c.complete(
        fmt::format("revision {} is stable: {}/{} ready", update, c.ready(update), c.replicas()));
    return;
  }
  int old_instances = 0;
  for (const auto& [rev, n] : c.decision.replicas) {
    if (rev != update) old_instances += n;
  }
  c.progressing(fmt::format("rolling update to revision {}: {}/{} ready, {} old instances left",
                            update, c.ready(update), c.replicas(), old_instances));
}

void aborted_rolling(Context& c) {
  // Back to stable within the same budget; traffic goes to stable at once when it has capacity.
  const int64_t stable = c.stable();
  std::vector<ScaleTarget> targets{{stable, 0, 0, c.replicas()}, {c.update(), 0, 0, 0}};
  for (int64_t rev : c.others()) targets.push_back({rev, 0, 0, 0});
  const bool hold = c.hold;
  c.hold = false;
  rolling_move(c, targets, stable);
  c.hold = hold;
  if (c.ready(stable) > 0) c.decision.weights = {{stable, 100}};
}

}  // namespace sluice::strategies::detail
