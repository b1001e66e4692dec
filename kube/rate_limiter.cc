#include "kube/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace sluice::kube {
namespace {

// "20", "0.1": as few digits as the value needs.
std::string format_qps(double qps) {
  std::ostringstream out;
  out << qps;
  return out.str();
}

}  // namespace

RateLimiter::RateLimiter(const Clock& clock, RateLimit limit)
    : clock_(clock), limit_(limit), tokens_(limit.burst), last_(clock.now()) {}

void RateLimiter::refill_locked(TimePoint now) const {
  if (now <= last_) return;  // a clock that steps back refills nothing
  const double elapsed_s = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min<double>(limit_.burst, tokens_ + elapsed_s * limit_.qps);
  last_ = now;
}

Result<Duration> RateLimiter::reserve(Duration max_wait) {
  std::lock_guard lock(mu_);
  refill_locked(clock_.now());
  const double after = tokens_ - 1;
  Duration wait{0};
  if (after < 0) {
    wait = Duration(static_cast<int64_t>(std::ceil(-after / limit_.qps * 1000.0)));
  }
  if (wait > max_wait) {
    return Status(StatusCode::kDeadlineExceeded,
                  "client-side rate limit (" + format_qps(limit_.qps) + " QPS, burst " +
                      std::to_string(limit_.burst) + "): the request would wait " +
                      std::to_string(wait.count()) + " ms, more than its " +
                      std::to_string(max_wait.count()) + " ms timeout");
  }
  tokens_ = after;
  return wait;
}

double RateLimiter::tokens() const {
  std::lock_guard lock(mu_);
  refill_locked(clock_.now());
  return tokens_;
}

Duration Backoff::next() {
  double base = static_cast<double>(policy_.initial.count()) * std::pow(policy_.factor, attempt_);
  base = std::min(base, static_cast<double>(policy_.max.count()));
  if (base < static_cast<double>(policy_.max.count())) ++attempt_;
  const double scale = 1.0 - policy_.jitter + 2.0 * policy_.jitter * random_.uniform_real();
  return Duration(static_cast<int64_t>(base * scale));
}

}  // namespace sluice::kube
