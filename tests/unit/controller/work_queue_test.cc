#include <catch2/catch.hpp>

#include "controller/work_queue.h"

using namespace sluice;
using namespace sluice::controller;

TEST_CASE("work queue dedups, requeues, backs off, and records terminal errors", "[queue]") {
  SimulatedClock clock;
  SimulatedScheduler scheduler(clock);
  std::map<std::string, int> runs;
  std::vector<TimePoint> failures_at;
  ReconcileResult next;
  WorkQueue q(clock, scheduler, [&](const std::string& key) {
    runs[key] += 1;
    if (key == "bad") failures_at.push_back(clock.now());
    if (key == "bad") return ReconcileResult{unavailable("down"), std::nullopt, false};
    if (key == "fatal") return ReconcileResult{invalid_argument("broken"), std::nullopt, true};
    return next;
  });
  std::vector<std::string> terminal;
  q.set_on_terminal([&](const std::string& key, const Status&) { terminal.push_back(key); });
  q.add("a");
  q.add("a");
  q.add("a");
  clock.advance(Duration(1));
  CHECK(runs["a"] == 1);

  next.requeue_after = Duration(1000);
  q.add("b");
  clock.advance(Duration(1));
  CHECK(runs["b"] == 1);
  next.requeue_after.reset();
  clock.advance(Duration(1000));
  CHECK(runs["b"] == 2);

  q.set_backoff(Duration(100), Duration(800));
  q.add("bad");
  clock.advance(Duration(5000));
  REQUIRE(failures_at.size() >= 5);
  CHECK((failures_at[1] - failures_at[0]) == Duration(100));
  CHECK((failures_at[2] - failures_at[1]) == Duration(200));
  CHECK((failures_at[3] - failures_at[2]) == Duration(400));
  CHECK((failures_at[4] - failures_at[3]) == Duration(800));
  CHECK((failures_at[5] - failures_at[4]) == Duration(800));

  q.add("fatal");
  clock.advance(Duration(10'000));
  CHECK(runs["fatal"] == 1);
  CHECK(terminal == std::vector<std::string>{"fatal"});
  q.forget("bad");
}
