// The controller tells the runtime when kept instance logs may go: when a revision leaves
// history (revisionHistoryLimit) and when a pruned Rollout is deleted (Runtime::drop_logs).
#include <catch2/catch.hpp>

#include "harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;

TEST_CASE("kept logs are dropped with the revision that leaves history, and with the Rollout",
          "[controller][logs]") {
  Harness h;
  auto version = [](const std::string& v) {
    manifests::Rollout r = make_rollout("orders", v, 2, manifests::RollingUpdateStrategy{});
    r.spec.revision_history_limit = 1;  // keeps 3 revisions: limit + stable + update
    return r;
  };
  using Dropped = std::pair<std::string, std::optional<int64_t>>;
  for (const char* v : {"1.0.0", "2.0.0", "3.0.0"}) {
    h.apply({version(v)});
    h.run_for(Duration(30'000));
  }
  CHECK(h.runtime.dropped_logs.empty());  // three revisions fit

  h.apply({version("4.0.0")});
  h.run_for(Duration(30'000));
  REQUIRE(h.runtime.dropped_logs.size() == 1);
  CHECK(h.runtime.dropped_logs[0] == Dropped{"orders", 1});
  h.apply({version("5.0.0")});
  h.run_for(Duration(30'000));
  REQUIRE(h.runtime.dropped_logs.size() == 2);
  CHECK(h.runtime.dropped_logs[1] == Dropped{"orders", 2});

  // Removed from Git (prune): every kept log of the Rollout goes.
  h.apply({});
  h.run_for(Duration(30'000));
  REQUIRE(h.runtime.dropped_logs.size() == 3);
  CHECK(h.runtime.dropped_logs[2] == Dropped{"orders", std::nullopt});
}
