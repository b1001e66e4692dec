// The trigger table (notify/triggers.h): which recorded events fire which Argo Rollouts trigger.
#include <catch2/catch.hpp>

#include "notify/triggers.h"

using sluice::notify::closest_trigger;
using sluice::notify::is_trigger;
using sluice::notify::triggers_for;
using nlohmann::json;
using Triggers = std::vector<std::string>;

namespace {
json event(const std::string& reason, const std::string& from, const std::string& to,
           json evidence = json::object(), const std::string& message = "") {
  return {{"id", 7},      {"rollout", "orders-api"}, {"revision", 2},     {"version", "v2"},
          {"commit", "abcdef0123456789"}, {"type", "Normal"}, {"from", from}, {"to", to},
          {"reason", reason}, {"message", message}, {"actor", "controller"},
          {"evidence", evidence}};
}
json run(const std::string& phase) { return {{"analysisRun", {{"name", "r"}, {"phase", phase}}}}; }
}  // namespace

TEST_CASE("each recorded event maps to the Argo Rollouts triggers of the table", "[notify]") {
  CHECK(triggers_for(event("RevisionCreated", "Healthy", "Progressing")) ==
        Triggers{"on-rollout-updated"});
  CHECK(triggers_for(event("StepCompleted", "Progressing", "Progressing", json::object(),
                           "step 2/4 (pause 500ms) completed")) ==
        Triggers{"on-rollout-step-completed"});
  CHECK(triggers_for(event("StepCompleted", "Progressing", "Progressing", json::object(),
                           "step 1/4 (setWeight 20) completed")) ==
        Triggers{"on-rollout-step-completed", "on-scaling-replica-set"});
  // A step completed whose next step is a pause enters Paused with this event.
  CHECK(triggers_for(event("StepCompleted", "Progressing", "Paused", json::object(),
                           "step 1/4 (setWeight 20) completed")) ==
        Triggers{"on-rollout-step-completed", "on-rollout-paused", "on-scaling-replica-set"});
  CHECK(triggers_for(event("Paused", "Progressing", "Paused")) == Triggers{"on-rollout-paused"});
  // Already paused: no second on-rollout-paused.
  CHECK(triggers_for(event("Paused", "Paused", "Paused")).empty());
  CHECK(triggers_for(event("RolloutCompleted", "Progressing", "Healthy")) ==
        Triggers{"on-rollout-completed"});
  CHECK(triggers_for(event("AnalysisRunStarted", "Progressing", "Progressing", run("Running"))) ==
        Triggers{"on-analysis-run-running"});
  CHECK(triggers_for(event("AnalysisFailed", "Progressing", "Degraded", run("Failed"))) ==
        Triggers{"on-rollout-aborted", "on-analysis-run-failed"});
  CHECK(triggers_for(event("AnalysisFailed", "Progressing", "Degraded", run("Error"))) ==
        Triggers{"on-rollout-aborted", "on-analysis-run-error"});
  CHECK(triggers_for(event("Aborted", "Paused", "Degraded")) == Triggers{"on-rollout-aborted"});
  CHECK(triggers_for(event("CrashLoop", "Progressing", "Degraded")) ==
        Triggers{"on-rollout-aborted"});
  CHECK(triggers_for(event("PromotionStarted", "Paused", "Progressing")) ==
        Triggers{"on-scaling-replica-set"});
  CHECK(triggers_for(event("RouterRecovered", "Healthy", "Healthy")).empty());
  CHECK(triggers_for(json("not an event")).empty());
}

TEST_CASE("trigger names are checked and a near miss gets a suggestion", "[notify]") {
  CHECK(is_trigger("on-rollout-aborted"));
  CHECK_FALSE(is_trigger("on-rollout-abort"));
  CHECK(closest_trigger("on-rollout-abort") == "on-rollout-aborted");
  CHECK(closest_trigger("on-analysis-run-fail") == "on-analysis-run-failed");
  CHECK(closest_trigger("something-else-entirely") == "");
}
