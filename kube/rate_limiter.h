// Client-side limits on requests to the API server: a token bucket (QPS and burst, as client-go's
// flowcontrol.NewTokenBucketRateLimiter) and the exponential backoff with jitter that a
// reflector waits between failed attempts (client-go's wait.Backoff).
//
// Both only compute: they say how long to wait, read time from the Clock they are given, and
// never sleep. The caller waits on its own worker thread (kube/rest_cluster.cc), never on the
// controller strand. Tests drive them with SimulatedClock.
#pragma once

#include <cstdint>
#include <mutex>

#include "base/clock.h"
#include "base/status.h"

namespace sluice::kube {

struct RateLimit {
  // controller-runtime's defaults (client-go's own 5/10 throttle a controller that lists three
  // resources and patches several objects per reconcile).
  double qps = 20;
  int burst = 30;
};

// Threads: every method may be called from any thread (one mutex).
class RateLimiter {
 public:
  // qps > 0 and burst >= 1 (checked by RestCluster::create); the bucket starts full.
  RateLimiter(const Clock& clock, RateLimit limit);

  // Takes one token and returns how long the caller must wait before it sends: zero while the
  // bucket holds a token, else the time until its token is refilled (tokens are handed out in
  // order, so waiting callers queue behind each other). When that wait would exceed `max_wait`,
  // takes nothing and answers kDeadlineExceeded ("client-side rate limit (20 QPS, burst 30):
  // the request would wait 2100 ms, more than its 2000 ms timeout").
  Result<Duration> reserve(Duration max_wait);

  // Tokens in the bucket now (negative when callers are queued); for tests and metrics.
  double tokens() const;

 private:
  void refill_locked(TimePoint now) const;

  const Clock& clock_;
  const RateLimit limit_;
  mutable std::mutex mu_;
  mutable double tokens_;
  mutable TimePoint last_;
};

struct BackoffPolicy {
  Duration initial{500};
  Duration max{10'000};
  double factor = 2.0;
  // Each wait is scaled by a random factor in [1 - jitter, 1 + jitter), so that many clients
  // that lost the same apiserver do not come back at the same instant.
  double jitter = 0.5;
};

// The wait before retry n: initial * factor^n, capped at max, then jittered (so at most
// max * (1 + jitter)). Not thread-safe: one per worker loop.
class Backoff {
 public:
  Backoff(BackoffPolicy policy, Random& random) : policy_(policy), random_(random) {}
  // The next wait; each call doubles the base up to the cap.
  Duration next();
  // After a success: the next failure waits `initial` again.
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  Random& random_;
  int attempt_ = 0;
};

}  // namespace sluice::kube
