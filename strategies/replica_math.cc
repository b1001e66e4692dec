#include "strategies/replica_math.h"

#include <algorithm>

namespace sluice::strategies {

RollingBudget resolve_budget(int replicas, const manifests::IntOrPercent& max_surge,
                             const manifests::IntOrPercent& max_unavailable) {
  RollingBudget b;
  b.replicas = std::max(replicas, 0);
  b.max_surge = std::max(max_surge.resolve(b.replicas, /*round_up=*/true), 0);
  b.max_unavailable = std::max(max_unavailable.resolve(b.replicas, /*round_up=*/false), 0);
  if (b.max_surge == 0 && b.max_unavailable == 0) b.max_unavailable = 1;
  return b;
}

std::map<int64_t, int> rolling_step(const RollingBudget& budget,
                                    const std::vector<ScaleTarget>& revs) {
  std::map<int64_t, int> desired;
  int total_desired = 0;
  int total_ready = 0;
  for (const auto& r : revs) {
    desired[r.revision] = r.desired;
    total_desired += r.desired;
    total_ready += std::min(r.ready, r.desired);
  }
  // Scale up within the surge budget.
  for (const auto& r : revs) {
    int& d = desired[r.revision];
    if (d >= r.target) continue;
    const int room = budget.max_total() - total_desired;
    if (room <= 0) break;
    const int add = std::min(r.target - d, room);
    d += add;
    total_desired += add;
  }
  // Scale down: unready instances cost no availability; ready ones only above min_available.
  int ready_budget = total_ready - budget.min_available();
  for (const auto& r : revs) {
    int& d = desired[r.revision];
    if (d <= r.target) continue;
    const int ready = std::min(r.ready, d);
    const int unready = d - ready;
    int excess = d - r.target;
    const int free_cut = std::min(unready, excess);
    d -= free_cut;
    excess -= free_cut;
    if (excess > 0 && ready_budget > 0) {
      const int cut = std::min(excess, ready_budget);
      d -= cut;
      ready_budget -= cut;
    }
  }
  return desired;
}

bool rolling_converged(const std::vector<ScaleTarget>& revs) {
  return std::all_of(revs.begin(), revs.end(), [](const ScaleTarget& r) {
    return r.desired == r.target && r.ready >= r.target;
  });
}

int canary_replicas_for_weight(int replicas, int weight_percent) {
  if (replicas <= 0 || weight_percent <= 0) return 0;
  if (weight_percent >= 100) return replicas;
  const int64_t scaled = static_cast<int64_t>(replicas) * weight_percent;
  return static_cast<int>((scaled + 99) / 100);
}

int canary_replicas_routed(int replicas, int weight_percent,
                           const std::optional<manifests::SetCanaryScale>& scale) {
  if (scale && !scale->match_traffic_weight) {
    if (scale->replicas) return std::max(*scale->replicas, 0);
    if (scale->weight) return canary_replicas_for_weight(replicas, *scale->weight);
  }
  return canary_replicas_for_weight(replicas, weight_percent);
}

std::map<int64_t, int> weights_from_ready(const std::vector<std::pair<int64_t, int>>& ready,
                                          int64_t fallback) {
  std::map<int64_t, int> weights;
  int total = 0;
  for (const auto& [rev, n] : ready) total += std::max(n, 0);
  if (total == 0) {
    weights[fallback] = 100;
    return weights;
  }
  // Largest remainder; ties go to the earlier entry (the stable revision comes first).
  struct Share {
    int64_t rev;
    int floor;
    int remainder;
    size_t order;
  };
  std::vector<Share> shares;
  int assigned = 0;
  for (size_t i = 0; i < ready.size(); ++i) {
    const int n = std::max(ready[i].second, 0);
    if (n == 0) continue;
    shares.push_back({ready[i].first, n * 100 / total, n * 100 % total, i});
    assigned += n * 100 / total;
  }
  std::sort(shares.begin(), shares.end(), [](const Share& a, const Share& b) {
    return a.remainder != b.remainder ? a.remainder > b.remainder : a.order < b.order;
  });
  for (auto& s : shares) {
    if (assigned < 100) {
      ++s.floor;
      ++assigned;
    }
    weights[s.rev] += s.floor;
  }
  return weights;
}

}  // namespace sluice::strategies
