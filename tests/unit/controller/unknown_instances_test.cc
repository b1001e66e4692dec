// Instances the runtime keeps for Rollouts the controller's state does not know (after a
// journal repair cut their records) are stopped and reported at start (issue 19): before, they
// were adopted and restarted by every start and never stopped.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;

TEST_CASE("recovery stops instances of rollouts the state does not know, with an event",
          "[controller][recovery][ghosts]") {
  Harness h;
  h.apply({make_rollout("orders", "1.0.0", 2, manifests::RollingUpdateStrategy{})});
  h.run_for(Duration(5'000));
  REQUIRE(h.runtime.ready("orders", 1) == 2);

  // The runtime's own records hold a Rollout the journal no longer has (its records were cut).
  runtime::RevisionSpec ghost;
  ghost.rollout = "pruned-api";
  ghost.revision = 3;
  ghost.pod.version = "0.9.0";
  ghost.pod.command = {"./bin/app"};
  h.runtime.scale(ghost, 2);
  h.run_for(Duration(2'000));
  REQUIRE(h.runtime.observe("pruned-api").size() == 2);

  REQUIRE(h.crash_and_recover().is_ok());
  h.apply({make_rollout("orders", "1.0.0", 2, manifests::RollingUpdateStrategy{})});
  h.run_for(Duration(30'000));

  // Stopped: nothing of the unknown Rollout runs any more; the known one is untouched.
  size_t running = 0;
  for (const auto& inst : h.runtime.observe("pruned-api"))
    if (!inst.terminating) ++running;
  CHECK(running == 0);
  CHECK(h.runtime.ready("orders", 1) == 2);

  // Reported: one Warning event naming the Rollout and its instances.
  int reported = 0;
  for (const auto& e : h.controller->events()) {
    if (e.at("reason") != "UnknownInstancesStopped") continue;
    ++reported;
    CHECK(e.at("rollout") == "pruned-api");
    CHECK(e.at("type") == "Warning");
    CHECK(e.at("evidence").at("instances").size() == 2);
  }
  CHECK(reported == 1);
  CHECK_FALSE(h.controller->rollout_json("pruned-api").has_value());

  // A second restart finds nothing left to stop and reports nothing new.
  REQUIRE(h.crash_and_recover().is_ok());
  int after_second = 0;
  for (const auto& e : h.controller->events())
    if (e.at("reason") == "UnknownInstancesStopped") ++after_second;
  CHECK(after_second == 1);
}
