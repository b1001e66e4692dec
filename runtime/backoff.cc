#include "runtime/backoff.h"

#include <algorithm>

namespace sluice::runtime {

Duration backoff_delay(const BackoffPolicy& policy, int consecutive_failures) {
  if (consecutive_failures <= 0 || policy.base <= Duration(0)) return Duration(0);
  Duration delay = policy.base;
  for (int i = 1; i < consecutive_failures; ++i) {
    if (delay >= policy.cap) break;
    delay *= 2;
  }
  return std::min(delay, policy.cap);
}

int next_failure_count(const BackoffPolicy& policy, int failures_before, Duration ran_for) {
  if (ran_for >= policy.reset_after) return 1;
  return failures_before + 1;
}

}  // namespace sluice::runtime
