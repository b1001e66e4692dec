// CrashPoints: where a simulated controller process can die in the middle of an action.
//
// The fakes (runtime, router, analysis runner) and the simulation's event sink call reached()
// at their crash points: before an action takes effect, after it, and right after a journal
// flush (between the flush and the action it guards). When an armed countdown reaches zero the
// controller is "down" from that moment: every later call the dead controller makes into a fake
// has no effect (the process is gone; its remaining code never runs in reality), until the
// harness has rebuilt it from the durable records and calls revive().
//
// Single-threaded (the SimulatedClock's). Header-only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace sluice::fakes {

class CrashPoints {
 public:
  // The n-th point reached from now (1: the next one) kills the controller. n <= 0 disarms.
  void arm(int n) {
    countdown_ = n;
    only_.clear();
  }
  // The n-th time the point `where` (e.g. "scale:before") is reached kills the controller.
  void arm_at(std::string where, int n = 1) {
    countdown_ = n;
    only_ = std::move(where);
  }
  void disarm() { countdown_ = 0; }
  bool armed() const { return countdown_ > 0; }

  // A fake reached the point `where`. Returns true when the controller is down (killed here or
  // earlier): the caller must then have no effect.
  bool reached(const char* where) {
    if (down_) return true;
    ++reached_;
    if (on_point) on_point(where);
    if (countdown_ <= 0 || (!only_.empty() && only_ != where) || --countdown_ > 0) return false;
    down_ = true;
    where_ = where;
    ++crashes_;
    if (on_crash) on_crash(where);
    return true;
  }

  bool down() const { return down_; }
  const std::string& where() const { return where_; }  // the point of the last crash
  void revive() {
    down_ = false;
    countdown_ = 0;
  }

  uint64_t points_reached() const { return reached_; }
  uint64_t crashes() const { return crashes_; }

  // Called at every point reached while the controller is up (e.g. to check that nothing is
  // left unflushed when an action is about to take effect).
  std::function<void(const char* where)> on_point;
  // Called at the moment of death, before the point returns (e.g. to capture the in-memory
  // state the durable records must reproduce).
  std::function<void(const char* where)> on_crash;

 private:
  int countdown_ = 0;
  std::string only_;  // when set, only this point counts down
  bool down_ = false;
  std::string where_;
  uint64_t reached_ = 0;
  uint64_t crashes_ = 0;
};

}  // namespace sluice::fakes
