// Replica and weight arithmetic shared by the strategies. Pure, table-tested
// (tests/unit/strategies/replica_math_test.cc).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "manifests/types.h"

namespace sluice::strategies {

// maxSurge / maxUnavailable resolved as Kubernetes does: surge rounds up, unavailable rounds
// down, and when both come out 0 unavailable becomes 1 (otherwise no progress is possible).
struct RollingBudget {
  int replicas = 0;
  int max_surge = 0;
  int max_unavailable = 0;
  int min_available() const {
    return replicas - max_unavailable > 0 ? replicas - max_unavailable : 0;
  }
  int max_total() const { return replicas + max_surge; }
};
RollingBudget resolve_budget(int replicas, const manifests::IntOrPercent& max_surge,
                             const manifests::IntOrPercent& max_unavailable);

// One revision's place in a rolling move: what it has (desired, ready) and where it should go.
struct ScaleTarget {
  int64_t revision = 0;
  int desired = 0;  // instances the runtime was told to keep
  int ready = 0;    // observed ready instances
  int target = 0;   // where this move ends
};

// One level-based step of a rolling move towards the targets, as the Kubernetes deployment
// controller does it: first scale up (in list order) while the sum of desired stays within
// replicas + maxSurge; then scale down, removing unready instances freely and ready ones only while
// the ready total stays >= replicas - maxUnavailable. Returns the new desired count per revision.
// Assumes the runtime removes unready instances before ready ones.
std::map<int64_t, int> rolling_step(const RollingBudget& budget,
                                    const std::vector<ScaleTarget>& revs);

// True when every revision is at its target and targets > 0 are fully ready.
bool rolling_converged(const std::vector<ScaleTarget>& revs);

// Canary instances for a traffic weight without traffic routing: ceil(replicas * weight / 100).
int canary_replicas_for_weight(int replicas, int weight_percent);

// Canary instances with traffic routing: setCanaryScale when given (replicas, or weight of
// spec.replicas), else the traffic weight.
int canary_replicas_routed(int replicas, int weight_percent,
                           const std::optional<manifests::SetCanaryScale>& scale);

// Traffic weights proportional to ready counts (largest remainder, summing to 100). Revisions with
// 0 ready get 0. When nothing is ready, `fallback` gets 100.
std::map<int64_t, int> weights_from_ready(const std::vector<std::pair<int64_t, int>>& ready,
                                          int64_t fallback);

}  // namespace sluice::strategies
