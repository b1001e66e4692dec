// A keyed work queue with deduplication, delayed requeue and exponential back-off, in the shape
// of controller-runtime's: a key queued twice is processed once; a reconcile returns
// {requeue_after} or an error; errors back off exponentially per key; a terminal error is
// recorded (on_terminal) and not retried until the key is added again. Nothing ever sleeps:
// waiting is a timer on the Scheduler.
//
// Threading: controller thread only (the Scheduler's).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "controller/scheduler.h"

namespace sluice::controller {

struct ReconcileResult {
  Status status;                          // non-OK: retry with back-off (unless terminal)
  std::optional<Duration> requeue_after;  // OK: wake up then
  bool terminal = false;                  // the error will not heal by retrying
};

class WorkQueue {
 public:
  using Reconcile = std::function<ReconcileResult(const std::string& key)>;
  using OnTerminal = std::function<void(const std::string& key, const Status& status)>;

  WorkQueue(Clock& clock, Scheduler& scheduler, Reconcile reconcile);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void set_on_terminal(OnTerminal on_terminal) { on_terminal_ = std::move(on_terminal); }
  void set_backoff(Duration base, Duration max) {
    backoff_base_ = base;
    backoff_max_ = max;
  }

  // Queues key for processing as soon as possible (deduplicated).
  void add(const std::string& key);
  // Queues key at now + delay (an earlier wake-up wins; later ones are dropped).
  void add_after(const std::string& key, Duration delay);
  // Forgets a key (its timers fire into nothing).
  void forget(const std::string& key);

  size_t pending() const { return queued_.size(); }
  int failures(const std::string& key) const;

 private:
  void run_one();

  Clock& clock_;
  Scheduler& scheduler_;
  Reconcile reconcile_;
  OnTerminal on_terminal_;
  Duration backoff_base_{200};
  Duration backoff_max_{60'000};
  std::set<std::string> queued_;                                             // dedup set
  std::vector<std::string> order_;                                           // FIFO of queued keys
  bool posted_ = false;                                                      // a run_one is posted
  std::map<std::string, std::pair<TimePoint, Scheduler::TimerId>> wakeups_;  // earliest timer
  std::map<std::string, int> failures_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::controller
