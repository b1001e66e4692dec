#include <catch2/catch.hpp>

#include "tests/unit/strategies/world.h"

using namespace sluice;
using namespace sluice::strategies;
using sluice::strategies::testing::World;
using M = std::map<int64_t, int>;

namespace {

manifests::RolloutSpec bg_spec(int replicas, int preview, bool auto_promote) {
  manifests::RolloutSpec spec;
  spec.replicas = replicas;
  manifests::BlueGreenStrategy bg;
  bg.preview_replica_count = preview;
  bg.auto_promotion_enabled = auto_promote;
  bg.scale_down_delay = Duration(30'000);
  bg.abort_scale_down_delay = Duration(5'000);
  spec.strategy = bg;
  return spec;
}

manifests::RolloutAnalysis analysis_of(const char* name) {
  manifests::RolloutAnalysis a;
  a.templates.push_back({name});
  return a;
}

World stable_world(manifests::RolloutSpec spec) {
  World w(std::move(spec));
  w.start_revision(1);
  w.settle();
  REQUIRE(w.status.stable_revision == 1);
  REQUIRE(w.status.active_revision == 1);
  w.hooks_run.clear();
  w.start_revision(2);
  return w;
}

}  // namespace

TEST_CASE("blue-green: preview, manual promotion, deactivate old THEN activate new",
          "[bluegreen]") {
  auto w = stable_world(bg_spec(3, 1, false));
  w.settle();
  CHECK(w.status.phase == Phase::kPaused);
  CHECK(w.last.replicas == M{{1, 3}, {2, 1}});
  CHECK(w.last.weights == M{{1, 100}});
  REQUIRE(w.last.preview_revision);
  CHECK(*w.last.preview_revision == 2);
  CHECK(w.last.roles[2] == "preview");
  CHECK(w.hooks_run.empty());
  auto promoted = apply_verb(w.spec, w.status, OperatorVerb::kPromote, false, "", w.now);
  REQUIRE(promoted);
  w.status = promoted->status;
  w.settle();
  CHECK(w.status.stable_revision == 2);
  CHECK(w.status.active_revision == 2);
  CHECK(w.hooks_run == std::vector<std::string>{"deactivate r1", "activate r2"});
  CHECK(w.last.weights == M{{2, 100}});
  CHECK(w.last.replicas == M{{1, 3}, {2, 3}});  // scaleDownDelaySeconds
  w.now += Duration(30'000);
  w.step();
  CHECK(w.last.replicas == M{{2, 3}});
}

TEST_CASE("blue-green: autoPromotionSeconds waits from preview readiness", "[bluegreen]") {
  auto spec = bg_spec(2, 0, true);
  std::get<manifests::BlueGreenStrategy>(spec.strategy).auto_promotion_seconds = Duration(20'000);
  auto w = stable_world(spec);
  w.settle();
  CHECK(w.status.phase == Phase::kPaused);
  CHECK(w.last.replicas == M{{1, 2}, {2, 2}});
  REQUIRE(w.last.requeue_after);
  CHECK(*w.last.requeue_after == Duration(20'000));
  w.now += Duration(20'000);
  w.settle();
  CHECK(w.status.stable_revision == 2);
}

TEST_CASE("blue-green: pre-promotion analysis failure aborts, preview goes after delay",
          "[bluegreen]") {
  auto spec = bg_spec(2, 0, true);
  std::get<manifests::BlueGreenStrategy>(spec.strategy).pre_promotion_analysis =
      analysis_of("smoke");
  auto w = stable_world(spec);
  w.settle();
  REQUIRE(w.last.analyses.size() == 1);
  CHECK(w.last.analyses[0].kind == AnalysisKind::kPrePromotion);
  w.set_analysis("pre", Verdict::kFailed, "smoke: exit 1");
  w.step();
  CHECK(w.status.aborted);
  CHECK(w.status.active_revision == 1);
  CHECK(w.last.weights == M{{1, 100}});
  CHECK(w.last.replicas == M{{1, 2}, {2, 2}});
  w.now += Duration(5'000);
  w.step();
  CHECK(w.last.replicas == M{{1, 2}});
  CHECK(w.hooks_run.empty());
}

TEST_CASE("blue-green: post-promotion analysis failure switches back", "[bluegreen]") {
  auto spec = bg_spec(2, 0, true);
  std::get<manifests::BlueGreenStrategy>(spec.strategy).post_promotion_analysis = analysis_of("x");
  auto w = stable_world(spec);
  w.settle();
  CHECK(w.status.active_revision == 2);
  CHECK(w.status.stable_revision == 1);
  REQUIRE(w.last.analyses.size() == 1);
  CHECK(w.last.analyses[0].kind == AnalysisKind::kPostPromotion);
  w.set_analysis("post", Verdict::kFailed, "error-rate 0.3 > 0.05");
  w.settle();
  CHECK(w.status.aborted);
  CHECK(w.status.active_revision == 1);
  CHECK(w.last.weights == M{{1, 100}});
  CHECK(w.hooks_run ==
        std::vector<std::string>{"deactivate r1", "activate r2", "deactivate r2", "activate r1"});
}

TEST_CASE("blue-green: inconclusive pre-promotion analysis waits for promote", "[bluegreen]") {
  auto spec = bg_spec(2, 0, true);
  std::get<manifests::BlueGreenStrategy>(spec.strategy).pre_promotion_analysis = analysis_of("x");
  auto w = stable_world(spec);
  w.settle();
  w.set_analysis("pre", Verdict::kInconclusive, "no data");
  w.step();
  CHECK(w.status.phase == Phase::kPaused);
  w.status = apply_verb(w.spec, w.status, OperatorVerb::kPromote, false, "", w.now)->status;
  w.settle();
  CHECK(w.status.stable_revision == 2);
}

TEST_CASE("blue-green: a failed hook during the hand-over aborts with the hook's evidence",
          "[bluegreen]") {
  struct Row {
    const char* failing;  // the hook run that fails
    std::vector<std::string> runs;
  };
  for (const Row& row : {
           // deactivate of the old active fails: the new one is never activated; the old one is
           // activated again (it may have stopped consuming).
           Row{"deactivate r1", {"deactivate r1", "activate r1"}},
           // activate of the new one fails: hand back, deactivate new, activate old.
           Row{"activate r2", {"deactivate r1", "activate r2", "deactivate r2", "activate r1"}},
       }) {
    INFO(row.failing);
    auto w = stable_world(bg_spec(2, 0, true));
    w.failing_hooks.insert(row.failing);
    w.settle();
    CHECK(w.status.aborted);
    CHECK(w.status.phase == Phase::kDegraded);
    CHECK(w.status.active_revision == 1);
    CHECK(w.status.stable_revision == 1);
    CHECK(w.last.weights == M{{1, 100}});
    CHECK(w.status.message.find(std::string(row.failing).substr(0, 8)) != std::string::npos);
    CHECK(w.hooks_run == row.runs);
  }
}

TEST_CASE("blue-green: the HookFailed transition carries the hook key and results", "[bluegreen]") {
  auto w = stable_world(bg_spec(2, 0, true));
  w.failing_hooks.insert("activate r2");
  Transition failed;
  for (int i = 0; i < 20 && failed.reason.empty(); ++i) {
    w.step();
    for (const auto& t : w.last.transitions) {
      if (t.reason == "HookFailed") failed = t;
    }
  }
  REQUIRE(failed.reason == "HookFailed");
  CHECK(failed.revision == 2);
  CHECK(failed.instances_of == 2);
  CHECK(failed.hook_key.find("activate.r2") != std::string::npos);
  CHECK(failed.hook_message == "i-2: exit 1");
  CHECK(w.status.aborted);
}

TEST_CASE("blue-green: a failed activate hook of the first revision is recorded - no abort",
          "[bluegreen]") {
  // Found by the simulation (SLUICE_SIM_SEED=15): the first revision was aborted "back to
  // stable revision 0", with nothing to go back to. As when handing back, the failure is
  // recorded and the hand-over completes.
  World w(bg_spec(2, 0, true));
  w.failing_hooks.insert("activate r1");
  w.start_revision(1);
  int hook_failures = 0;
  for (int i = 0; i < 20; ++i) {
    w.step();
    for (const auto& t : w.last.transitions) hook_failures += t.reason == "HookFailed";
  }
  CHECK(hook_failures == 1);
  CHECK_FALSE(w.status.aborted);
  CHECK(w.status.stable_revision == 1);
  CHECK(w.status.active_revision == 1);
  CHECK(w.status.phase == Phase::kHealthy);
  CHECK(w.last.weights == M{{1, 100}});
}

TEST_CASE("blue-green: a failed hook while handing back is recorded, the hand-back completes",
          "[bluegreen]") {
  auto spec = bg_spec(2, 0, true);
  std::get<manifests::BlueGreenStrategy>(spec.strategy).post_promotion_analysis = analysis_of("x");
  auto w = stable_world(spec);
  w.settle();
  REQUIRE(w.status.active_revision == 2);
  w.failing_hooks.insert("deactivate r2");
  w.set_analysis("post", Verdict::kFailed, "error-rate 0.3 > 0.05");
  int hook_failures = 0;
  for (int i = 0; i < 20; ++i) {
    w.step();
    for (const auto& t : w.last.transitions) hook_failures += t.reason == "HookFailed";
  }
  CHECK(hook_failures == 1);
  CHECK(w.status.aborted);
  CHECK(w.status.active_revision == 1);
  CHECK(w.status.switch_stage == 0);
  CHECK(w.hooks_run.back() == "activate r1");
}

TEST_CASE("minReadySeconds: instances count as ready only after that long", "[bluegreen]") {
  auto w = stable_world(bg_spec(2, 0, true));
  w.now += Duration(60'000);  // revision 1 has been ready for a minute
  w.spec.min_ready_seconds = 10;
  w.settle();
  CHECK(w.status.phase == Phase::kProgressing);  // preview ready, but not for 10 s yet
  CHECK_FALSE(w.status.preview_ready_at);
  REQUIRE(w.last.requeue_after);
  CHECK(*w.last.requeue_after <= Duration(10'000));
  w.now += Duration(10'000);
  w.settle();
  CHECK(w.status.stable_revision == 2);
}
