#include "runtime/scale_down_order.h"

#include <algorithm>
#include <numeric>

namespace sluice::runtime {

namespace {

// Kubernetes' pod phase ordinal (Pending < Unknown < Running) in local terms. A crash-looping
// instance is Running in Kubernetes' phase, but it serves nothing and restarts again: it goes
// with the instances that have no process, as the contract asks.
int life_rank(const ScaleDownCandidate& c) {
  if (!c.running || c.crash_loop) return 0;
  if (!c.started) return 1;
  return 2;
}

}  // namespace

ScaleDownCandidate scale_down_candidate(const InstanceStatus& instance) {
  ScaleDownCandidate c;
  c.running = instance.pid != 0;
  c.started = instance.started;
  c.crash_loop = instance.crash_loop;
  c.ready = instance.ready;
  c.ready_since = instance.ready_since;
  c.restarts = instance.restarts;
  c.creation_order = instance.creation_order;
  return c;
}

bool removed_before(const ScaleDownCandidate& a, const ScaleDownCandidate& b) {
  if (life_rank(a) != life_rank(b)) return life_rank(a) < life_rank(b);
  if (a.ready != b.ready) return !a.ready;
  if (a.ready && a.ready_since != b.ready_since) return a.ready_since > b.ready_since;
  if (a.restarts != b.restarts) return a.restarts > b.restarts;
  return a.creation_order > b.creation_order;
}

std::vector<size_t> scale_down_order(const std::vector<ScaleDownCandidate>& candidates) {
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return removed_before(candidates[a], candidates[b]);
  });
  return order;
}

}  // namespace sluice::runtime
