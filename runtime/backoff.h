// CrashLoopBackOff arithmetic, as the kubelet: the n-th consecutive failed start waits
// base * 2^(n-1), capped at `cap`; a process that ran for `reset_after` without failing clears
// the count.
#pragma once

#include "base/clock.h"

namespace sluice::runtime {

struct BackoffPolicy {
  Duration base{1000};
  Duration cap{60'000};
  Duration reset_after{600'000};
};

// Delay before the restart that follows `consecutive_failures` failures (>= 1). 0 failures: 0.
Duration backoff_delay(const BackoffPolicy& policy, int consecutive_failures);

// The consecutive failure count after a process that ran for `ran_for` failed, given the count
// before it started.
int next_failure_count(const BackoffPolicy& policy, int failures_before, Duration ran_for);

}  // namespace sluice::runtime
