#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "tests/unit/controller/harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using nlohmann::json;

namespace {

manifests::CanaryStrategy routed_canary(std::vector<manifests::CanaryStep> steps) {
  manifests::CanaryStrategy c;
  c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  c.steps = std::move(steps);
  c.scale_down_delay = Duration(5000);
  c.abort_scale_down_delay = Duration(5000);
  return c;
}

manifests::RolloutAnalysis analysis_of(const std::string& name) {
  manifests::RolloutAnalysis a;
  a.templates.push_back({name});
  return a;
}

std::vector<std::string> reasons(const Controller& c) {
  std::vector<std::string> out;
  for (const auto& e : c.events()) out.push_back(e.at("reason").get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("first revision becomes Healthy, the rollout object follows api.md", "[controller]") {
  Harness h;
  h.apply({make_rollout("orders", "1.0.0", 3, manifests::RollingUpdateStrategy{})});
  h.run_for(Duration(5000));
  json r = h.rollout("orders");
  CHECK(r["name"] == "orders");
  CHECK(r["phase"] == "Healthy");
  CHECK(r["aborted"] == false);
  CHECK(r["strategy"] == "rollingUpdate");
  CHECK(r["desired"]["revision"] == 1);
  CHECK(r["desired"]["version"] == "1.0.0");
  CHECK(r["desired"]["commit"] == "c0ffee1");
  CHECK(r["stable"]["revision"] == 1);
  CHECK(r["stable"]["replicas"] == 3);
  CHECK(r["stable"]["ready"] == 3);
  CHECK(r["canary"].is_null());
  CHECK(r["weights"]["stable"] == 100);
  CHECK(r["weights"]["canary"] == 0);
  CHECK(r.contains("currentStepIndex"));
  CHECK(r["analysisRuns"].is_array());
  CHECK(h.router.weight("orders", 1) == 100);
  CHECK(h.router.violations.empty());
  const auto rs = reasons(*h.controller);
  CHECK(std::find(rs.begin(), rs.end(), "RevisionCreated") != rs.end());
  CHECK(std::find(rs.begin(), rs.end(), "RolloutCompleted") != rs.end());
  for (const auto& e : h.controller->events()) {
    for (const char* k : {"id", "time", "rollout", "revision", "type", "from", "to", "reason",
                          "message", "actor", "evidence"}) {
      CHECK(e.contains(k));
    }
  }
}

TEST_CASE("routed canary walks its steps and completes", "[controller]") {
  Harness h;
  auto strategy =
      routed_canary({manifests::SetWeightStep{25}, manifests::PauseStep{Duration(10'000)},
                     analysis_of("success-rate"), manifests::SetWeightStep{75}});
  h.apply({make_rollout("orders", "1.0.0", 4, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", 4, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(2000));
  json r = h.rollout("orders");
  CHECK(r["phase"] == "Paused");
  CHECK(r["canary"]["revision"] == 2);
  CHECK(r["canary"]["replicas"] == 1);
  CHECK(r["weights"]["canary"] == 25);
  CHECK(r["weights"]["stable"] == 75);
  CHECK(r["currentStepIndex"] == 1);
  h.run_for(Duration(10'000));
  r = h.rollout("orders");
  CHECK(r["currentStepIndex"] == 2);
  REQUIRE(h.analysis.started.size() == 1);
  CHECK(r["analysisRuns"].size() == 1);
  h.run_for(Duration(20'000));
  r = h.rollout("orders");
  CHECK(r["phase"] == "Healthy");
  CHECK(r["stable"]["revision"] == 2);
  CHECK(r["canary"].is_null());
  CHECK(h.router.weight("orders", 2) == 100);
  h.run_for(Duration(6000));
  CHECK(h.runtime.ready("orders", 1) == 0);
  CHECK(h.router.violations.empty());
  auto hist = h.controller->states().at("orders").revisions;
  REQUIRE(hist.size() == 2);
  CHECK(hist[1].result == "Completed");
}

TEST_CASE("the rollout object lists the strategy's steps as in the manifest", "[controller]") {
  Harness h;
  manifests::RolloutAnalysis gate = analysis_of("success-rate");
  gate.args.push_back({"service", std::string("orders")});
  gate.args.push_back({"threshold", std::nullopt});
  manifests::SetCanaryScale scale;
  scale.replicas = 2;
  manifests::SetHeaderRoute route{"testers", {{"X-Canary", {std::string("1"), {}, {}}}}};
  auto strategy = routed_canary({manifests::SetWeightStep{20}, manifests::PauseStep{Duration(5000)},
                                 manifests::PauseStep{}, scale, gate, route,
                                 manifests::PauseStep{Duration(1500)}});
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(2000));
  json r = h.rollout("orders");
  const json expected = json::parse(R"([
    {"setWeight": 20},
    {"pause": {"duration": "5s"}},
    {"pause": {}},
    {"setCanaryScale": {"replicas": 2}},
    {"analysis": {"templates": [{"templateName": "success-rate"}],
                  "args": [{"name": "service", "value": "orders"}, {"name": "threshold"}]}},
    {"setHeaderRoute": {"name": "testers",
                        "match": [{"headerName": "X-Canary", "headerValue": {"exact": "1"}}]}},
    {"pause": {"duration": "1500ms"}}
  ])");
  CHECK(r["steps"] == expected);
  CHECK(r["currentStepIndex"] == 1);  // index into `steps`: the 5 s pause

  // Rolling and blue-green have no steps: an empty list, never absent.
  Harness rolling;
  rolling.apply({make_rollout("plain", "1.0.0", 1, manifests::RollingUpdateStrategy{})});
  rolling.run_for(Duration(3000));
  CHECK(rolling.rollout("plain")["steps"] == json::array());
}

TEST_CASE("failed analysis aborts with evidence, verbs check their state", "[controller]") {
  Harness h;
  h.analysis.script = [](const analysis::AnalysisRunSpec&) {
    fakes::ScriptedOutcome o;
    o.phase = analysis::AnalysisPhase::kFailed;
    o.value = 0.8;
    o.message = "success-rate: 0.80 < 0.99";
    return o;
  };
  auto strategy = routed_canary({manifests::SetWeightStep{50}, analysis_of("success-rate")});
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)}, {make_template("success-rate")});
  h.run_for(Duration(10'000));
  json r = h.rollout("orders");
  CHECK(r["phase"] == "Degraded");
  CHECK(r["aborted"] == true);
  CHECK(r["message"].get<std::string>().find("0.80 < 0.99") != std::string::npos);
  CHECK(r["weights"]["stable"] == 100);
  CHECK(h.router.weight("orders", 1) == 100);
  const json* abort_event = nullptr;
  for (const auto& e : h.controller->events()) {
    if (e["reason"] == "AnalysisFailed") abort_event = &e;
  }
  REQUIRE(abort_event);
  CHECK((*abort_event)["type"] == "Warning");
  CHECK((*abort_event)["to"] == "Degraded");
  CHECK((*abort_event)["evidence"]["analysisRun"]["phase"] == "Failed");
  CHECK((*abort_event)["evidence"]["analysisRun"]["metrics"][0]["measurements"][0]["value"] == 0.8);

  auto promote = h.verb("orders", Verb::kPromote);
  CHECK(promote.status().code() == StatusCode::kFailedPrecondition);
  auto unknown = h.verb("nope", Verb::kAbort);
  CHECK(unknown.status().code() == StatusCode::kNotFound);
  const size_t events_before = h.controller->events().size();
  auto pause_twice = h.verb("orders", Verb::kResume);
  CHECK(pause_twice.status().code() == StatusCode::kFailedPrecondition);
  CHECK(h.controller->events().size() == events_before);

  h.analysis.script = nullptr;
  auto retry = h.verb("orders", Verb::kRetry);
  REQUIRE(retry);
  h.run_for(Duration(30'000));
  r = h.rollout("orders");
  CHECK(r["phase"] == "Healthy");
  CHECK(r["stable"]["revision"] == 2);
}

TEST_CASE("a router that fails keeps the step, back-off retries", "[controller]") {
  Harness h;
  auto strategy = routed_canary({manifests::SetWeightStep{50}, manifests::PauseStep{}});
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)});
  h.controller->queue().set_backoff(Duration(100), Duration(1000));
  h.router.fail_next = 8;
  h.run_for(Duration(1500));
  CHECK(h.rollout("orders")["currentStepIndex"] == 0);
  h.run_for(Duration(10'000));
  CHECK(h.rollout("orders")["currentStepIndex"] == 1);
  CHECK(h.rollout("orders")["phase"] == "Paused");
}

TEST_CASE("a router error is in the rollout object and one Warning event, until it clears",
          "[controller]") {
  Harness h;
  auto strategy = routed_canary({manifests::SetWeightStep{50}, manifests::PauseStep{}});
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)});
  h.run_for(Duration(5000));
  json r = h.rollout("orders");
  CHECK(r["router"]["kind"] == "builtin");
  CHECK(r["router"]["error"].is_null());
  CHECK(r["router"]["since"].is_null());

  h.apply({make_rollout("orders", "1.1.0", 2, strategy)});
  h.controller->queue().set_backoff(Duration(100), Duration(400));
  h.router.fail_next = 1'000'000;  // fails until told otherwise
  h.run_for(Duration(5000));
  r = h.rollout("orders");
  CHECK(r["currentStepIndex"] == 0);
  CHECK(h.router.weight("orders", 2) == 0);
  REQUIRE(r["router"]["error"].is_string());
  CHECK(r["router"]["error"].get<std::string>().find("injected failure") != std::string::npos);
  CHECK(r["router"]["since"].is_string());
  CHECK(r["router"]["failures"].get<int>() > 3);  // retried with back-off...
  CHECK(r["message"].get<std::string>().find("injected failure") != std::string::npos);
  auto count = [&](const std::string& reason, const std::string& type) {
    int n = 0;
    for (const auto& e : h.controller->events()) {
      if (e["reason"] == reason && e["type"] == type && e["rollout"] == "orders") ++n;
    }
    return n;
  };
  CHECK(count("RouterError", "Warning") == 1);  // ...but recorded once
  CHECK(h.journal.unflushed() == 0);  // and durable before anything else happens
  // The API serves the same object.
  {
    ControllerFacade facade(*h.controller, h.scheduler, 100);
    auto served = facade.get_rollout("orders");
    REQUIRE(served);
    CHECK((*served)["router"]["error"] == r["router"]["error"]);
  }

  h.router.fail_next = 0;
  h.run_for(Duration(5000));
  r = h.rollout("orders");
  CHECK(r["router"]["error"].is_null());
  CHECK(r["router"]["since"].is_null());
  CHECK(r["message"].get<std::string>().find("injected failure") == std::string::npos);
  CHECK(r["currentStepIndex"] == 1);
  CHECK(h.router.weight("orders", 2) == 50);
  CHECK(count("RouterError", "Warning") == 1);
  CHECK(count("RouterRecovered", "Normal") == 1);
  CHECK(h.journal.unflushed() == 0);
  CHECK(h.router.violations.empty());
}

TEST_CASE("crash and replay: same state, same ending", "[controller]") {
  Harness h;
  auto strategy =
      routed_canary({manifests::SetWeightStep{50}, manifests::PauseStep{Duration(20'000)},
                     manifests::SetWeightStep{80}});
  h.apply({make_rollout("orders", "1.0.0", 4, strategy)});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", 4, strategy)});
  h.run_for(Duration(4000));
  const json before = h.controller->snapshot()["rollouts"];
  REQUIRE(h.crash_and_recover());
  CHECK(h.controller->snapshot()["rollouts"] == before);
  h.apply({make_rollout("orders", "1.1.0", 4, strategy)});  // the source re-delivers on start
  h.run_for(Duration(60'000));
  CHECK(h.rollout("orders")["phase"] == "Healthy");
  CHECK(h.rollout("orders")["stable"]["revision"] == 2);
  CHECK(h.router.violations.empty());
}

TEST_CASE("crash and replay from a snapshot plus the records after it", "[controller]") {
  // As `sluice serve` recovers (cli/serve_wiring.cc): the newest snapshot, then the tail.
  Harness h;
  auto strategy =
      routed_canary({manifests::SetWeightStep{50}, manifests::PauseStep{Duration(20'000)},
                     manifests::SetWeightStep{80}});
  h.apply({make_rollout("orders", "1.0.0", 4, strategy)});
  h.run_for(Duration(5000));
  h.take_snapshot();
  const size_t covered = h.snapshot_records;
  h.apply({make_rollout("orders", "1.1.0", 4, strategy)});
  h.run_for(Duration(4000));
  REQUIRE(h.sink.records().size() > covered);  // the update is only in the tail
  const json before = h.controller->snapshot()["rollouts"];
  const uint64_t last_id = h.controller->last_event_id();
  REQUIRE(h.crash_and_recover(/*from_snapshot=*/true));
  CHECK(h.controller->snapshot()["rollouts"] == before);
  CHECK(h.controller->last_event_id() >= last_id);  // ids go on above the reserved ones
  h.apply({make_rollout("orders", "1.1.0", 4, strategy)});
  h.run_for(Duration(60'000));
  CHECK(h.rollout("orders")["phase"] == "Healthy");
  CHECK(h.rollout("orders")["stable"]["revision"] == 2);
  CHECK(h.router.violations.empty());
}

TEST_CASE("a crash inside an action: the durable records give back the state of that moment",
          "[controller]") {
  Harness h;
  auto strategy =
      routed_canary({manifests::SetWeightStep{50}, manifests::PauseStep{Duration(20'000)},
                     manifests::SetWeightStep{80}});
  h.apply({make_rollout("orders", "1.0.0", 4, strategy)});
  h.run_for(Duration(5000));
  std::optional<json> at_crash;
  std::string where;
  h.crash.on_crash = [&](const char* w) {
    where = w;
    at_crash = h.controller->snapshot()["rollouts"];
  };
  h.crash.on_point = [&](const char* w) {
    // Write-ahead: nothing is left unflushed when an action is about to take effect.
    if (std::string(w).find(":before") != std::string::npos) CHECK(h.journal.unflushed() == 0);
  };
  h.crash.arm_at("scale:after");  // the update's first scale-up has happened, nothing after it
  h.apply({make_rollout("orders", "1.1.0", 4, strategy)});
  h.run_for(Duration(1000));
  REQUIRE(h.crash.down());
  REQUIRE(at_crash);
  CHECK(where == "scale:after");
  REQUIRE(h.crash_and_recover());
  CHECK(h.controller->snapshot()["rollouts"] == *at_crash);
  h.apply({make_rollout("orders", "1.1.0", 4, strategy)});
  h.run_for(Duration(60'000));
  CHECK(h.rollout("orders")["phase"] == "Healthy");
  CHECK(h.rollout("orders")["stable"]["revision"] == 2);
  CHECK(h.router.violations.empty());
}

TEST_CASE("after a crash between deciding and acting the move starts from what really runs",
          "[controller]") {
  // Found by the simulation (SLUICE_SIM_SEED=1079): a scale-down decided when it cost no
  // availability was recorded, the controller died before acting, the world changed, and the
  // restarted controller carried the old decision out, below the budget.
  Harness h;
  manifests::RollingUpdateStrategy rolling;
  rolling.max_surge = {1, false};
  rolling.max_unavailable = {0, false};
  h.apply({make_rollout("orders", "1.0.0", 4, rolling)});
  h.run_for(Duration(5000));
  REQUIRE(h.rollout("orders")["stable"]["ready"] == 4);
  std::string capacity;
  h.runtime.on_scale = [&](const fakes::ScaleCall& c) {
    if (c.ready_after < std::min(c.ready_before, 4) && capacity.empty()) {
      capacity = fmt::format("scaling revision {} to {} left {} ready (was {})", c.revision,
                             c.replicas, c.ready_after, c.ready_before);
    }
  };
  // Die right after the decision to take revision 1 down to 3 (revision 2 has 1 ready) is
  // durable, before the runtime hears of it.
  h.crash.on_point = [&](const char* where) {
    const auto& st = h.controller->states().at("orders").status;
    auto one = st.replicas.find(1);
    if (std::string(where) == "flush:after" && one != st.replicas.end() && one->second == 3 &&
        !h.crash.armed()) {
      h.crash.arm(1);  // this very point
    }
  };
  h.apply({make_rollout("orders", "1.1.0", 4, rolling)});
  h.run_for(Duration(3000));
  REQUIRE(h.crash.down());
  h.crash.on_point = nullptr;
  REQUIRE(h.runtime.ready("orders", 1) == 4);  // the scale-down never happened
  // Meanwhile revision 2's only ready instance fails.
  const auto instances = h.runtime.observe("orders");
  for (size_t i = 0; i < instances.size(); ++i) {
    if (instances[i].revision == 2) h.runtime.crash_instance("orders", i);
  }
  REQUIRE(h.runtime.ready("orders", 2) == 0);
  REQUIRE(h.crash_and_recover());
  h.apply({make_rollout("orders", "1.1.0", 4, rolling)});
  h.run_for(Duration(200));  // the first pass, before revision 2 is ready again
  CHECK(capacity.empty());
  CHECK(h.runtime.ready("orders", 1) == 4);
  h.run_for(Duration(30'000));
  CHECK(capacity.empty());
  CHECK(h.rollout("orders")["stable"]["revision"] == 2);
  CHECK(h.router.violations.empty());
}

TEST_CASE("blue-green hands over consumers: deactivate old, then activate new", "[controller]") {
  Harness h;
  manifests::BlueGreenStrategy bg;
  bg.auto_promotion_enabled = false;
  bg.scale_down_delay = Duration(1000);
  auto r1 = make_rollout("worker", "1", 2, bg, /*service=*/false);
  r1.spec.template_.lifecycle.activate = manifests::LifecycleHandler{};
  r1.spec.template_.lifecycle.activate->exec = manifests::ExecAction{{"./activate"}};
  r1.spec.template_.lifecycle.deactivate = manifests::LifecycleHandler{};
  r1.spec.template_.lifecycle.deactivate->exec = manifests::ExecAction{{"./deactivate"}};
  h.apply({r1});
  h.run_for(Duration(5000));
  CHECK(h.rollout("worker")["phase"] == "Healthy");
  CHECK(h.runtime.hook_log == std::vector<std::string>{"activate r1"});
  auto r2 = r1;
  r2.spec.template_.version = "2";
  h.apply({r2});
  h.run_for(Duration(5000));
  CHECK(h.rollout("worker")["phase"] == "Paused");
  REQUIRE(h.verb("worker", Verb::kPromote));
  h.run_for(Duration(5000));
  CHECK(h.rollout("worker")["phase"] == "Healthy");
  CHECK(h.runtime.hook_log ==
        std::vector<std::string>{"activate r1", "deactivate r1", "activate r2"});
  CHECK(h.runtime.ready("worker", 1) == 0);
}

TEST_CASE("crash loop of the new revision aborts, undo and rollback window", "[controller]") {
  Harness h;
  manifests::CanaryStrategy basic;
  basic.steps = {manifests::SetWeightStep{50}, manifests::PauseStep{}};
  auto r = make_rollout("orders", "1", 2, basic);
  r.spec.rollback_window_revisions = 3;
  h.apply({r});
  h.run_for(Duration(5000));
  auto r2 = r;
  r2.spec.template_.version = "2";
  h.apply({r2});
  h.run_for(Duration(5000));
  REQUIRE(h.verb("orders", Verb::kPromote, /*full=*/true));
  h.run_for(Duration(10'000));
  CHECK(h.rollout("orders")["stable"]["revision"] == 2);
  // undo: back to revision 1's template as revision 3, fast-tracked by the rollback window.
  auto undone = h.verb("orders", Verb::kUndo);
  REQUIRE(undone);
  h.run_for(Duration(10'000));
  json now = h.rollout("orders");
  CHECK(now["stable"]["revision"] == 3);
  CHECK(now["stable"]["version"] == "1");
  CHECK(h.verb("orders", Verb::kUndo, false, 99).status().code() == StatusCode::kInvalidArgument);
  // A crash-looping revision aborts with the exit in the message and evidence.
  auto r4 = r;
  r4.spec.template_.version = "4";
  h.runtime.set_crash_loop("orders", 4);
  h.apply({r4});
  h.run_for(Duration(5000));
  now = h.rollout("orders");
  CHECK(now["aborted"] == true);
  CHECK(now["message"].get<std::string>().find("exited with code 3") != std::string::npos);
  bool evidence = false;
  for (const auto& e : h.controller->events()) {
    if (e["reason"] == "CrashLoop") {
      evidence = e["evidence"]["instances"].size() > 0 &&
                 e["evidence"]["instances"][0]["lastExit"]["exitCode"] == 3;
    }
  }
  CHECK(evidence);
}

TEST_CASE("facade: snapshots, verbs through the scheduler, events and metrics", "[facade]") {
  Harness h;
  ControllerFacade facade(*h.controller, h.scheduler);
  std::vector<json> streamed;
  auto sub = facade.subscribe("orders", [&](const json& e) { streamed.push_back(e); });
  auto strategy = routed_canary({manifests::SetWeightStep{50}, manifests::PauseStep{}});
  h.apply({make_rollout("orders", "1.0.0", 2, strategy)});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", 2, strategy)});
  h.run_for(Duration(5000));
  json list = facade.list_rollouts();
  REQUIRE(list["items"].size() == 1);
  CHECK(list["items"][0]["phase"] == "Paused");
  CHECK(facade.get_rollout("orders"));
  CHECK_FALSE(facade.get_rollout("nope"));
  REQUIRE(facade.history("orders"));
  CHECK((*facade.history("orders"))["items"].size() == 2);
  CHECK(!streamed.empty());
  const uint64_t last = streamed.back()["id"].get<uint64_t>();
  CHECK(facade.events("orders", last)["items"].empty());
  CHECK(facade.events("", 0)["items"].size() == streamed.size());

  std::optional<Result<json>> answer;
  VerbRequest req;
  req.rollout = "orders";
  req.verb = Verb::kPromote;
  req.actor = "alice";
  facade.command(req, [&](Result<json> r) { answer = std::move(r); });
  CHECK_FALSE(answer);  // posted, not run inline
  h.run_for(Duration(5000));
  REQUIRE(answer);
  REQUIRE(answer->is_ok());
  CHECK(facade.get_rollout("orders")->at("phase") == "Healthy");
  bool promoted_by_alice = false;
  for (const auto& e : streamed) {
    if (e["reason"] == "Promoted" && e["actor"] == "alice") promoted_by_alice = true;
  }
  CHECK(promoted_by_alice);
  const std::string metrics = facade.metrics_text();
  CHECK(metrics.find("sluice_rollout_phase{rollout=\"orders\",phase=\"Healthy\"} 1") !=
        std::string::npos);
  CHECK(
      metrics.find("sluice_rollout_info{rollout=\"orders\",version=\"1.1.0\",revision=\"2\"} 1") !=
      std::string::npos);
  CHECK(metrics.find("sluice_reconcile_duration_seconds_count") != std::string::npos);
  CHECK(facade.source()["commit"].is_null());
  sub.reset();
  const size_t n = streamed.size();
  REQUIRE(h.verb("orders", Verb::kPause));
  CHECK(streamed.size() == n);
}

TEST_CASE("a refused verb records nothing and changes no state", "[controller]") {
  Harness h;
  auto r = make_rollout("orders", "1", 2, routed_canary({manifests::SetWeightStep{50}}));
  h.apply({r});
  h.run_for(Duration(5000));
  REQUIRE(h.rollout("orders")["phase"] == "Healthy");
  struct Row {
    Verb verb;
    bool full;
    std::optional<int64_t> revision;
    StatusCode code;
  };
  for (const Row& row : {Row{Verb::kPromote, false, {}, StatusCode::kFailedPrecondition},
                         Row{Verb::kPromote, true, {}, StatusCode::kFailedPrecondition},
                         Row{Verb::kAbort, false, {}, StatusCode::kFailedPrecondition},
                         Row{Verb::kRetry, false, {}, StatusCode::kFailedPrecondition},
                         Row{Verb::kResume, false, {}, StatusCode::kFailedPrecondition},
                         Row{Verb::kUndo, false, {}, StatusCode::kFailedPrecondition},
                         Row{Verb::kUndo, false, 1, StatusCode::kFailedPrecondition},
                         Row{Verb::kUndo, false, 42, StatusCode::kInvalidArgument}}) {
    INFO(verb_name(row.verb) << (row.full ? " --full" : "")
                             << (row.revision ? " to " + std::to_string(*row.revision) : ""));
    const size_t records = h.sink.records().size();
    const json before = h.controller->snapshot();
    auto out = h.verb("orders", row.verb, row.full, row.revision);
    REQUIRE_FALSE(out);
    CHECK(out.status().code() == row.code);
    CHECK_FALSE(out.status().message().empty());
    CHECK(h.sink.records().size() == records);
    CHECK(h.controller->snapshot() == before);
  }
}

TEST_CASE("blue-green: a failing activate hook aborts with the hook's results as evidence",
          "[controller]") {
  Harness h;
  manifests::BlueGreenStrategy bg;
  bg.auto_promotion_enabled = true;
  auto r1 = make_rollout("worker", "1", 2, bg, /*service=*/false);
  r1.spec.template_.lifecycle.activate = manifests::LifecycleHandler{};
  r1.spec.template_.lifecycle.activate->exec = manifests::ExecAction{{"./activate"}};
  r1.spec.template_.lifecycle.deactivate = manifests::LifecycleHandler{};
  r1.spec.template_.lifecycle.deactivate->exec = manifests::ExecAction{{"./deactivate"}};
  h.apply({r1});
  h.run_for(Duration(5000));
  REQUIRE(h.rollout("worker")["phase"] == "Healthy");
  auto r2 = r1;
  r2.spec.template_.version = "2";
  h.runtime.hooks_fail = true;
  h.apply({r2});
  h.run_for(Duration(10'000));
  const json r = h.rollout("worker");
  CHECK(r["aborted"] == true);
  CHECK(r["phase"] == "Degraded");
  CHECK(r["stable"]["revision"] == 1);
  const json* failed = nullptr;
  for (const auto& e : h.controller->events()) {
    if (e["reason"] == "HookFailed" && failed == nullptr) failed = &e;
  }
  REQUIRE(failed != nullptr);
  CHECK((*failed)["type"] == "Warning");
  CHECK((*failed)["to"] == "Degraded");
  CHECK((*failed)["revision"] == 1);  // the deactivate of the old active one failed first
  CHECK((*failed)["evidence"]["hook"]["ok"] == false);
  CHECK_FALSE((*failed)["evidence"]["hook"]["results"].get<std::string>().empty());
  CHECK((*failed)["evidence"]["instances"].size() == 2);
  // The update never became active: only the old revision's hooks ran.
  for (const auto& run : h.runtime.hook_log) CHECK(run.find("r2") == std::string::npos);
}

TEST_CASE("Sluice's own probe resource errors are a Warning event, not the instance's failure",
          "[controller][probe]") {
  // Issue 19: a probe that fails because Sluice ran out of descriptors is Sluice's failure. The
  // runtime does not count it against the instance; the controller records it, with evidence,
  // at most once a minute per rollout.
  Harness h;
  h.apply({make_rollout("orders", "1.0.0", 2, manifests::RollingUpdateStrategy{})});
  h.run_for(Duration(5000));
  REQUIRE(h.rollout("orders")["phase"] == "Healthy");
  auto probe_events = [&] {
    std::vector<json> out;
    for (const auto& e : h.controller->events()) {
      if (e.at("reason") == "ProbeResourceError") out.push_back(e);
    }
    return out;
  };
  CHECK(probe_events().empty());

  h.runtime.add_probe_resource_errors("orders", 0, 3, "readiness probe: EMFILE: socket: Too many open files");
  h.run_for(Duration(100));
  auto events = probe_events();
  REQUIRE(events.size() == 1);
  CHECK(events[0]["type"] == "Warning");
  CHECK(events[0]["actor"] == "runtime");
  CHECK_THAT(events[0]["message"].get<std::string>(), Catch::Contains("not counted against"));
  CHECK_THAT(events[0]["message"].get<std::string>(), Catch::Contains("EMFILE"));
  const json& evidence = events[0]["evidence"]["probeResourceErrors"];
  REQUIRE(evidence.size() == 1);
  CHECK(evidence[0]["errors"] == 3);
  // Nothing else changed: the rollout stays Healthy at full capacity.
  CHECK(h.rollout("orders")["phase"] == "Healthy");
  CHECK(h.runtime.ready("orders", 1) == 2);

  // More errors within the minute are counted, not recorded again...
  h.runtime.add_probe_resource_errors("orders", 1, 2, "liveness probe: EMFILE: pipe");
  h.run_for(Duration(10'000));
  CHECK(probe_events().size() == 1);
  // ...and after it, the next growth is one event naming what happened since.
  h.run_for(Duration(60'000));
  h.runtime.add_probe_resource_errors("orders", 1, 1, "liveness probe: EMFILE: pipe");
  h.run_for(Duration(100));
  events = probe_events();
  REQUIRE(events.size() == 2);
  CHECK(events[1]["evidence"]["probeResourceErrors"][0]["errors"] == 3);  // 2 + 1 since
  // The same count seen again records nothing.
  h.run_for(Duration(120'000));
  h.runtime.add_probe_resource_errors("orders", 1, 0, "liveness probe: EMFILE: pipe");
  h.run_for(Duration(100));
  CHECK(probe_events().size() == 2);
}

TEST_CASE("facade: object watchers see every phase the events name and end on what GET answers",
          "[facade]") {
  Harness h;
  ControllerFacade facade(*h.controller, h.scheduler);
  std::vector<std::string> event_phases;
  std::vector<json> objects;
  auto events = facade.subscribe("orders", [&](const json& e) { event_phases.push_back(e["to"]); });
  auto watch = facade.watch_rollouts("orders", [&](const json& change) {
    CHECK(change["type"] == "MODIFIED");
    // Called after the model was swapped in: what it carries is what GET answers now.
    CHECK(change["rollout"] == *facade.get_rollout("orders"));
    objects.push_back(change["rollout"]);
  });
  // Quick transitions: steps that never wait, several commits.
  auto strategy = routed_canary({manifests::SetWeightStep{50}, manifests::PauseStep{Duration(0)},
                                 manifests::SetWeightStep{75}});
  for (const char* version : {"1.0.0", "1.1.0", "1.2.0"}) {
    h.apply({make_rollout("orders", version, 2, strategy)});
    h.run_for(Duration(5000));
  }
  REQUIRE(!objects.empty());
  CHECK(objects.back() == *facade.get_rollout("orders"));
  CHECK(objects.back()["phase"] == "Healthy");
  std::vector<std::string> drawn;
  for (const auto& o : objects)
    if (drawn.empty() || drawn.back() != o["phase"]) drawn.push_back(o["phase"]);
  std::vector<std::string> wanted;
  for (const auto& p : event_phases)
    if (wanted.empty() || wanted.back() != p) wanted.push_back(p);
  size_t at = 0;
  for (const auto& p : drawn)
    if (at < wanted.size() && wanted[at] == p) ++at;
  std::string wanted_text, drawn_text;
  for (const auto& p : wanted) wanted_text += p + " ";
  for (const auto& p : drawn) drawn_text += p + " ";
  INFO("events: " << wanted_text << "; watched: " << drawn_text);
  CHECK(at == wanted.size());
  CHECK(wanted.size() >= 4);
  // Equal objects are not sent again, and a dropped watcher hears nothing more.
  for (size_t i = 1; i < objects.size(); ++i) CHECK(objects[i] != objects[i - 1]);
  watch.reset();
  const size_t n = objects.size();
  REQUIRE(h.verb("orders", Verb::kPause));
  h.run_for(Duration(1000));
  CHECK(objects.size() == n);
}
