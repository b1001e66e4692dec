// The scale-down rule shared by LocalProcessRuntime and the fakes (runtime/scale_down_order.h).
#include <catch2/catch.hpp>

#include "runtime/scale_down_order.h"

using namespace sluice;
using namespace sluice::runtime;

namespace {

const TimePoint kT0 = from_unix_ms(1'767'225'600'000);

ScaleDownCandidate running_ready(int64_t created, int ready_ms_after_t0, int restarts = 0) {
  ScaleDownCandidate c;
  c.running = true;
  c.started = true;
  c.ready = true;
  c.ready_since = kT0 + Duration(ready_ms_after_t0);
  c.restarts = restarts;
  c.creation_order = created;
  return c;
}

ScaleDownCandidate running_unready(int64_t created, int restarts = 0) {
  ScaleDownCandidate c;
  c.running = true;
  c.started = true;
  c.restarts = restarts;
  c.creation_order = created;
  return c;
}

ScaleDownCandidate not_started(int64_t created) {
  ScaleDownCandidate c = running_unready(created);
  c.started = false;
  return c;
}

ScaleDownCandidate waiting_for_restart(int64_t created, int restarts) {
  ScaleDownCandidate c;
  c.running = false;
  c.restarts = restarts;
  c.creation_order = created;
  return c;
}

ScaleDownCandidate crash_looping(int64_t created) {
  ScaleDownCandidate c = running_unready(created, 5);
  c.crash_loop = true;
  return c;
}

}  // namespace

TEST_CASE("scale-down order: which instance goes first") {
  struct Case {
    const char* name;
    ScaleDownCandidate first;   // removed first
    ScaleDownCandidate second;  // kept longer
  };
  const std::vector<Case> cases = {
      {"no process before a started one, even an older one", waiting_for_restart(1, 1),
       running_ready(2, 0)},
      {"crash-looping before running-but-unready", crash_looping(1), running_unready(2)},
      {"crash-looping before not-yet-started", crash_looping(1), not_started(2)},
      {"not started before started-but-unready", not_started(1), running_unready(2)},
      {"unready before ready, even when the unready one is older", running_unready(1),
       running_ready(2, 0)},
      {"unready with no restarts before ready with many", running_unready(1, 0),
       running_ready(2, 0, 9)},
      {"both ready: ready for a shorter time first", running_ready(1, 5000),
       running_ready(2, 1000)},
      {"both ready: shorter ready time wins over restarts", running_ready(1, 5000, 0),
       running_ready(2, 1000, 4)},
      {"same ready time: more restarts first", running_ready(1, 1000, 2),
       running_ready(2, 1000, 1)},
      {"both unready: more restarts first", running_unready(1, 3), running_unready(2, 1)},
      {"same everything else: newer first", running_ready(2, 1000), running_ready(1, 1000)},
      {"both unready, same restarts: newer first", running_unready(7), running_unready(3)},
      {"both waiting: more restarts first", waiting_for_restart(1, 4), waiting_for_restart(2, 1)},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(removed_before(c.first, c.second));
    CHECK_FALSE(removed_before(c.second, c.first));
    CHECK(scale_down_order({c.second, c.first}) == std::vector<size_t>{1, 0});
    CHECK(scale_down_order({c.first, c.second}) == std::vector<size_t>{0, 1});
  }
}

TEST_CASE("scale-down order: an instance is never removed before itself, and ties keep input order") {
  const ScaleDownCandidate a = running_ready(1, 1000);
  CHECK_FALSE(removed_before(a, a));
  // Unready candidates ignore ready_since (it is only meaningful while ready).
  ScaleDownCandidate b = running_unready(4);
  ScaleDownCandidate c = running_unready(4);
  b.ready_since = kT0 + Duration(10);
  CHECK_FALSE(removed_before(b, c));
  CHECK_FALSE(removed_before(c, b));
  CHECK(scale_down_order({b, c}) == std::vector<size_t>{0, 1});
  CHECK(scale_down_order({}).empty());
}

TEST_CASE("scale-down order: a mixed revision, first to go first") {
  // index: 0 oldest ready, 1 ready later, 2 unready, 3 newest ready, 4 crash-looping, 5 waiting
  const std::vector<ScaleDownCandidate> instances = {
      running_ready(0, 100), running_ready(1, 900), running_unready(2),
      running_ready(3, 900), crash_looping(4),      waiting_for_restart(5, 1)};
  // 4 and 5 have no useful process (5 has fewer restarts than 4, so 4 first), then the unready
  // 2, then the ready ones: 1 and 3 have been ready as long (3 is newer), 0 the longest.
  CHECK(scale_down_order(instances) == std::vector<size_t>{4, 5, 2, 3, 1, 0});
}

TEST_CASE("scale-down candidate from an observed instance") {
  InstanceStatus s;
  s.pid = 0;
  s.started = false;
  s.ready = false;
  s.restarts = 2;
  s.crash_loop = true;
  s.creation_order = 7;
  ScaleDownCandidate c = scale_down_candidate(s);
  CHECK_FALSE(c.running);
  CHECK(c.crash_loop);
  CHECK(c.restarts == 2);
  CHECK(c.creation_order == 7);
  s.pid = 42;
  s.started = true;
  s.ready = true;
  s.crash_loop = false;
  s.ready_since = kT0;
  s.creation_order = 8;
  c = scale_down_candidate(s);
  CHECK(c.running);
  CHECK(c.started);
  CHECK(c.ready);
  CHECK(c.ready_since == kT0);
  CHECK(c.creation_order == 8);
}
