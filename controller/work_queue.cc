#include "controller/work_queue.h"

#include <algorithm>
#include <memory>

namespace sluice::controller {

WorkQueue::WorkQueue(Clock& clock, Scheduler& scheduler, Reconcile reconcile)
    : clock_(clock), scheduler_(scheduler), reconcile_(std::move(reconcile)) {}

WorkQueue::~WorkQueue() {
  *alive_ = false;
  for (const auto& [key, wake] : wakeups_) scheduler_.cancel(wake.second);
}

void WorkQueue::add(const std::string& key) {
  if (queued_.insert(key).second) order_.push_back(key);
  if (!posted_) {
    posted_ = true;
    std::weak_ptr<bool> alive = alive_;
    scheduler_.post([this, alive] {
      if (alive.expired() || !*alive.lock()) return;
      run_one();
    });
  }
}

void WorkQueue::add_after(const std::string& key, Duration delay) {
  if (delay <= Duration(0)) {
    add(key);
    return;
  }
  const TimePoint when = clock_.now() + delay;
  auto it = wakeups_.find(key);
  if (it != wakeups_.end()) {
    if (it->second.first <= when) return;
    scheduler_.cancel(it->second.second);
  }
  std::weak_ptr<bool> alive = alive_;
  const Scheduler::TimerId id = scheduler_.call_at(when, [this, alive, key] {
    if (alive.expired() || !*alive.lock()) return;
    wakeups_.erase(key);
    add(key);
  });
  wakeups_[key] = {when, id};
}

void WorkQueue::forget(const std::string& key) {
  if (auto it = wakeups_.find(key); it != wakeups_.end()) {
    scheduler_.cancel(it->second.second);
    wakeups_.erase(it);
  }
  queued_.erase(key);
  std::erase(order_, key);
  failures_.erase(key);
}

int WorkQueue::failures(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::run_one() {
  posted_ = false;
  if (order_.empty()) return;
  const std::string key = order_.front();
  order_.erase(order_.begin());
  queued_.erase(key);
  // Process the rest in later turns, so other work (verbs, callbacks) interleaves fairly.
  if (!order_.empty()) {
    posted_ = true;
    std::weak_ptr<bool> alive = alive_;
    scheduler_.post([this, alive] {
      if (alive.expired() || !*alive.lock()) return;
      run_one();
    });
  }
  const ReconcileResult result = reconcile_(key);
  if (result.status.is_ok()) {
    failures_.erase(key);
    if (result.requeue_after) add_after(key, *result.requeue_after);
    return;
  }
  if (result.terminal) {
    failures_.erase(key);
    if (on_terminal_) on_terminal_(key, result.status);
    return;
  }
  const int n = ++failures_[key];
  Duration delay = backoff_base_;
  for (int i = 1; i < n && delay < backoff_max_; ++i) delay *= 2;
  delay = std::min(delay, backoff_max_);
  add_after(key, result.requeue_after ? std::min(delay, *result.requeue_after) : delay);
}

}  // namespace sluice::controller
