#include "controller/asio_scheduler.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

namespace sluice::controller {

AsioScheduler::AsioScheduler(boost::asio::any_io_executor executor, Clock& clock)
    : strand_(boost::asio::make_strand(executor)), clock_(clock) {}

AsioScheduler::~AsioScheduler() {
  for (auto& [id, timer] : timers_) timer->cancel();
}

void AsioScheduler::post(std::function<void()> fn) { boost::asio::post(strand_, std::move(fn)); }

Scheduler::TimerId AsioScheduler::call_at(TimePoint when, std::function<void()> fn) {
  const TimerId id = next_id_++;
  auto timer = std::make_shared<boost::asio::steady_timer>(strand_);
  const Duration delay = std::max(Duration(0), when - clock_.now());
  timer->expires_after(delay);
  timers_[id] = timer;
  timer->async_wait(boost::asio::bind_executor(
      strand_, [this, id, timer, fn = std::move(fn)](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled (the scheduler may be gone: touch nothing)
        timers_.erase(id);
        fn();
      }));
  return id;
}

void AsioScheduler::cancel(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  it->second->cancel();
  timers_.erase(it);
}

}  // namespace sluice::controller
