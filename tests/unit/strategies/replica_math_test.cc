#include <catch2/catch.hpp>

#include "strategies/replica_math.h"

using namespace sluice::strategies;
using sluice::manifests::IntOrPercent;

TEST_CASE("resolve_budget rounds like Kubernetes", "[replica_math]") {
  struct Row {
    int replicas;
    IntOrPercent surge;
    IntOrPercent unavailable;
    int want_surge;
    int want_unavailable;
  };
  const Row rows[] = {
      {4, {25, true}, {0, false}, 1, 0},  // 25% of 4 = 1
      {5, {25, true}, {25, true}, 2, 1},  // surge ceil(1.25)=2, unavailable floor(1.25)=1
      {10, {10, true}, {10, true}, 1, 1},
      {3, {0, false}, {0, false}, 0, 1},  // both 0: unavailable becomes 1
      {1, {25, true}, {25, true}, 1, 0},  // ceil(0.25)=1, floor(0.25)=0
      {2, {0, true}, {10, true}, 0, 1},   // both resolve to 0
      {7, {3, false}, {2, false}, 3, 2},  // absolute values
      {0, {25, true}, {25, true}, 0, 1},
      {100, {100, true}, {0, false}, 100, 0},
  };
  for (const auto& r : rows) {
    INFO("replicas " << r.replicas << " surge " << r.surge.to_string() << " unavailable "
                     << r.unavailable.to_string());
    const RollingBudget b = resolve_budget(r.replicas, r.surge, r.unavailable);
    CHECK(b.max_surge == r.want_surge);
    CHECK(b.max_unavailable == r.want_unavailable);
  }
}

TEST_CASE("rolling_step respects surge and availability", "[replica_math]") {
  struct Row {
    const char* name;
    RollingBudget budget;
    std::vector<ScaleTarget> revs;  // first = new
    std::map<int64_t, int> want;
  };
  const Row rows[] = {
      {"surge 1: new +1 first", {4, 1, 0}, {{2, 0, 0, 4}, {1, 4, 4, 0}}, {{2, 1}, {1, 4}}},
      {"new ready: old -1", {4, 1, 0}, {{2, 1, 1, 4}, {1, 4, 4, 0}}, {{2, 1}, {1, 3}}},
      {"new unready: old kept", {4, 1, 0}, {{2, 1, 0, 4}, {1, 4, 4, 0}}, {{2, 1}, {1, 4}}},
      {"unavailable 1: old -1 at once", {4, 0, 1}, {{2, 0, 0, 4}, {1, 4, 4, 0}}, {{2, 0}, {1, 3}}},
      {"unavailable 1 then new +1", {4, 0, 1}, {{2, 0, 0, 4}, {1, 3, 3, 0}}, {{2, 1}, {1, 3}}},
      {"unready old removed freely", {4, 1, 0}, {{2, 1, 0, 4}, {1, 4, 2, 0}}, {{2, 1}, {1, 2}}},
      {"both 25%: 5 replicas", {5, 2, 1}, {{2, 0, 0, 5}, {1, 5, 5, 0}}, {{2, 2}, {1, 4}}},
      {"finish", {4, 1, 0}, {{2, 4, 4, 4}, {1, 1, 1, 0}}, {{2, 4}, {1, 0}}},
      {"basic canary 25%", {4, 1, 0}, {{2, 0, 0, 1}, {1, 4, 4, 3}}, {{2, 1}, {1, 4}}},
      {"basic canary 25% ready", {4, 1, 0}, {{2, 1, 1, 1}, {1, 4, 4, 3}}, {{2, 1}, {1, 3}}},
      {"superseded canary goes first",
       {4, 1, 0},
       {{3, 0, 0, 1}, {1, 3, 3, 3}, {2, 1, 1, 0}},
       {{3, 1}, {1, 3}, {2, 1}}},
      {"scale down to fewer replicas", {2, 1, 0}, {{1, 4, 4, 2}}, {{1, 2}}},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    CHECK(rolling_step(r.budget, r.revs) == r.want);
  }
}

TEST_CASE("rolling_step never exceeds max total nor drops below min available", "[replica_math]") {
  for (int replicas = 1; replicas <= 9; ++replicas) {
    for (int surge = 0; surge <= 3; ++surge) {
      for (int unavailable = 0; unavailable <= 3; ++unavailable) {
        RollingBudget b = resolve_budget(replicas, {surge, false}, {unavailable, false});
        std::vector<ScaleTarget> revs{{2, 0, 0, replicas}, {1, replicas, replicas, 0}};
        for (int pass = 0; pass < 4 * replicas + 8 && !rolling_converged(revs); ++pass) {
          auto next = rolling_step(b, revs);
          int total = 0;
          int ready = 0;
          for (auto& r : revs) {
            const int before_ready = std::min(r.ready, r.desired);
            r.desired = next[r.revision];
            total += r.desired;
            // Scale-up instances are not ready in this pass; surviving ones keep their readiness.
            ready += std::min(before_ready, r.desired);
            r.ready = r.desired;  // ready by the next pass
          }
          INFO("replicas " << replicas << " surge " << surge << " unavailable " << unavailable);
          REQUIRE(total <= b.max_total());
          REQUIRE(ready >= std::min(b.min_available(), replicas));
        }
        REQUIRE(rolling_converged(revs));
      }
    }
  }
}

TEST_CASE("canary replicas for weights", "[replica_math]") {
  struct Row {
    int replicas, weight, want;
  };
  const Row rows[] = {{4, 20, 1}, {4, 25, 1}, {4, 26, 2}, {4, 50, 2}, {4, 100, 4}, {4, 0, 0},
                      {10, 1, 1}, {1, 50, 1}, {0, 50, 0}, {3, 33, 1}, {3, 34, 2}};
  for (const auto& r : rows) {
    INFO(r.replicas << " @ " << r.weight);
    CHECK(canary_replicas_for_weight(r.replicas, r.weight) == r.want);
  }
  sluice::manifests::SetCanaryScale fixed;
  fixed.replicas = 2;
  CHECK(canary_replicas_routed(10, 10, fixed) == 2);
  sluice::manifests::SetCanaryScale by_weight;
  by_weight.weight = 50;
  CHECK(canary_replicas_routed(10, 10, by_weight) == 5);
  sluice::manifests::SetCanaryScale match;
  match.match_traffic_weight = true;
  CHECK(canary_replicas_routed(10, 30, match) == 3);
  CHECK(canary_replicas_routed(10, 30, std::nullopt) == 3);
}

TEST_CASE("weights from ready counts sum to 100", "[replica_math]") {
  CHECK(weights_from_ready({{1, 3}, {2, 1}}, 1) == std::map<int64_t, int>{{1, 75}, {2, 25}});
  CHECK(weights_from_ready({{1, 2}, {2, 1}}, 1) == std::map<int64_t, int>{{1, 67}, {2, 33}});
  CHECK(weights_from_ready({{1, 1}, {2, 1}, {3, 1}}, 1) ==
        std::map<int64_t, int>{{1, 34}, {2, 33}, {3, 33}});
  CHECK(weights_from_ready({{1, 0}, {2, 0}}, 1) == std::map<int64_t, int>{{1, 100}});
  CHECK(weights_from_ready({{1, 0}, {2, 5}}, 1) == std::map<int64_t, int>{{2, 100}});
  for (int a = 0; a < 12; ++a) {
    for (int b = 0; b < 12; ++b) {
      for (int c = 0; c < 5; ++c) {
        auto w = weights_from_ready({{1, a}, {2, b}, {3, c}}, 1);
        int sum = 0;
        for (auto& [rev, p] : w) sum += p;
        CHECK(sum == 100);
        if (a == 0 && (b || c)) CHECK(w.count(1) == 0);
      }
    }
  }
}
