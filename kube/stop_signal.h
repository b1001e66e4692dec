// A stop flag that a worker thread can also wait on: the one place in kube/ where a thread waits
// for a duration (a backoff or a rate-limit delay computed elsewhere). Internal to kube/.
//
// Threads: stop() from any thread; wait_for() and stopped() from any thread. The waits are in
// real (steady) time, because the sockets they pace live in real time; the durations come from
// logic that reads the injected Clock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "base/clock.h"

namespace sluice::kube::internal {

class StopSignal {
 public:
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }
  bool stopped() const { return stopped_.load(); }
  // The flag itself, for RestClient::watch.
  const std::atomic<bool>& flag() const { return stopped_; }
  // Waits `d` or until stop(); true when the whole wait passed without a stop.
  bool wait_for(Duration d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stopped_.load(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopped_{false};
};

}  // namespace sluice::kube::internal
