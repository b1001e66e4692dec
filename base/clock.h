// Time comes in through Clock (CONVENTIONS.md, pattern 2). Logic never calls now() or sleeps.
//
// TimePoint is wall-clock time with millisecond resolution, because it is persisted in status
// (pause started_at, analysis timestamps) and must mean the same after a restart.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace sluice {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

// Milliseconds since the Unix epoch, for persistence.
inline int64_t to_unix_ms(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint from_unix_ms(int64_t ms) { return TimePoint(Duration(ms)); }
// RFC 3339 in UTC with milliseconds: 2026-11-25T02:00:00.123Z
std::string format_rfc3339(TimePoint t);

class Clock {
 public:
  virtual ~Clock() = default;
  // Thread-safe.
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
  static SystemClock& instance();
};

// A clock that moves only when told to. Timers registered with call_at() fire, in time order,
// from inside advance(). Single-threaded use (simulation tests).
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(TimePoint start = from_unix_ms(1'767'225'600'000))  // 2026-01-01
      : now_(start) {}

  TimePoint now() const override { return now_; }

  using TimerId = uint64_t;
  TimerId call_at(TimePoint when, std::function<void()> fn);
  TimerId call_after(Duration d, std::function<void()> fn) {
    return call_at(now_ + d, std::move(fn));
  }
  void cancel(TimerId id);

  // Moves time forward by d, firing every timer due on the way (at its own due time).
  void advance(Duration d);
  // Moves to the next pending timer and fires it; false when none is pending.
  bool run_next();
  size_t pending() const { return timers_.size(); }

 private:
  TimePoint now_;
  TimerId next_id_ = 1;
  // (due time, id) -> callback; id breaks ties in registration order.
  std::map<std::pair<TimePoint, TimerId>, std::function<void()>> timers_;
};

// Randomness comes in through Random so that simulations replay from a seed.
class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, bound). bound > 0.
  virtual uint64_t uniform(uint64_t bound) = 0;
  // Uniform in [0, 1).
  virtual double uniform_real() = 0;
};

// xoshiro256** seeded by splitmix64: fast, deterministic across platforms.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed);
  uint64_t next();
  uint64_t uniform(uint64_t bound) override;
  double uniform_real() override;

 private:
  uint64_t s_[4];
};

}  // namespace sluice
