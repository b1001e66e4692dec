// The production Scheduler: an Asio strand owns the controller; timers are steady_timers whose
// expiry is computed from the controller's Clock (wall time in status, steady waits in Asio).
//
// Threading: post() from any thread; call_at()/cancel() on the strand only (the controller
// thread), which also owns the timer table.
#pragma once

#include <map>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "controller/scheduler.h"

namespace sluice::controller {

class AsioScheduler final : public Scheduler {
 public:
  AsioScheduler(boost::asio::any_io_executor executor, Clock& clock);
  ~AsioScheduler() override;

  void post(std::function<void()> fn) override;
  TimerId call_at(TimePoint when, std::function<void()> fn) override;
  void cancel(TimerId id) override;

  const boost::asio::strand<boost::asio::any_io_executor>& strand() const { return strand_; }

 private:
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  Clock& clock_;
  TimerId next_id_ = 1;
  std::map<TimerId, std::shared_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace sluice::controller
