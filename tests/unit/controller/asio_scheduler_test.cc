#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "controller/asio_scheduler.h"

using namespace sluice;
using namespace sluice::controller;

TEST_CASE("asio scheduler posts and fires timers on its strand", "[asio]") {
  boost::asio::io_context io;
  AsioScheduler scheduler(io.get_executor(), SystemClock::instance());
  std::vector<std::string> order;
  scheduler.post([&] { order.push_back("posted"); });
  scheduler.call_at(SystemClock::instance().now() + Duration(20),
                    [&] { order.push_back("timer"); });
  const auto cancelled = scheduler.call_at(SystemClock::instance().now() + Duration(10),
                                           [&] { order.push_back("x"); });
  scheduler.cancel(cancelled);
  io.run_for(std::chrono::seconds(2));
  CHECK(order == std::vector<std::string>{"posted", "timer"});
}
