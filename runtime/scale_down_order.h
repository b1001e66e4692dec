// Which instances a scale-down removes: the one rule every Sluice runtime (and the test fakes)
// follows, so that the controller's capacity arithmetic holds against all of them.
//
// The order is Kubernetes' ReplicaSet scale-down order (pkg/controller/controller_utils.go,
// ActivePods.Less) without its node terms. First to go:
//   1. no running process (waiting for a restart) or crash-looping, then started up but not yet
//      past the startup probe, then running;
//   2. unready before ready;
//   3. both ready: ready for a shorter time before ready for longer;
//   4. more restarts before fewer;
//   5. newer before older (creation order);
// and, when all of that ties, the order the candidates were given in.
//
// Why: the controller keeps `replicas - maxUnavailable` instances ready while it scales
// revisions. It counts on a scale-down taking an unready instance before a ready one; a runtime
// that stopped the newest instance regardless would remove ready capacity the strategy meant to
// keep (issue 23: seed 44 left 2 ready with a minimum of 4).
//
// Pure: no clock, no I/O. Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/clock.h"
#include "runtime/runtime.h"

namespace sluice::runtime {

// What the rule looks at, for one instance.
struct ScaleDownCandidate {
  bool running = false;     // a process is up (not waiting for a restart)
  bool started = false;     // the startup probe passed (or there is none)
  bool crash_loop = false;  // in CrashLoopBackOff
  bool ready = false;
  TimePoint ready_since{};  // valid when ready
  int restarts = 0;
  int64_t creation_order = 0;  // higher is newer (e.g. the runtime's per-revision index)
};

// The candidate for an observed instance.
ScaleDownCandidate scale_down_candidate(const InstanceStatus& instance);

// True when `a` is removed before `b`. A strict weak order.
bool removed_before(const ScaleDownCandidate& a, const ScaleDownCandidate& b);

// Indices into `candidates`, first to remove first. Stable: ties keep their given order.
std::vector<size_t> scale_down_order(const std::vector<ScaleDownCandidate>& candidates);

}  // namespace sluice::runtime
