// Where the controller's work runs. All controller state is owned by one Scheduler: every
// callback posted or scheduled here runs on that one logical thread, never concurrently.
// Production: AsioScheduler (an Asio strand + steady_timer). Simulation and unit tests:
// SimulatedScheduler (SimulatedClock::call_at; everything runs inside clock.advance()).
#pragma once

#include <cstdint>
#include <functional>

#include "base/clock.h"

namespace sluice::controller {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  using TimerId = uint64_t;
  // Runs fn on the controller thread soon, after the current callback returns. Thread-safe.
  virtual void post(std::function<void()> fn) = 0;
  // Runs fn on the controller thread at (or after) `when` of the controller's Clock.
  // Controller thread only.
  virtual TimerId call_at(TimePoint when, std::function<void()> fn) = 0;
  virtual void cancel(TimerId id) = 0;
};

// Drives the controller from a SimulatedClock: post() is a timer due now. Single-threaded.
class SimulatedScheduler final : public Scheduler {
 public:
  explicit SimulatedScheduler(SimulatedClock& clock) : clock_(clock) {}
  void post(std::function<void()> fn) override { clock_.call_at(clock_.now(), std::move(fn)); }
  TimerId call_at(TimePoint when, std::function<void()> fn) override {
    return clock_.call_at(when, std::move(fn));
  }
  void cancel(TimerId id) override { clock_.cancel(id); }

 private:
  SimulatedClock& clock_;
};

}  // namespace sluice::controller
