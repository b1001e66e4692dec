#include <catch2/catch.hpp>

#include "cli/client.h"
#include "cli/client_view.h"

#include <fmt/format.h>

using namespace sluice::cli;
using nlohmann::json;

namespace {

json rollout(const std::string& phase, bool aborted, const std::string& commit) {
  return {{"name", "orders-api"},
          {"phase", phase},
          {"aborted", aborted},
          {"desired", {{"revision", 7}, {"version", "2.3.1"}, {"commit", commit}}}};
}

}  // namespace

TEST_CASE("status verdicts: the CI exit code table", "[cli][status]") {
  struct Case {
    const char* phase;
    bool aborted;
    const char* commit;
    const char* expected;
    bool on_pause;
    Verdict verdict;
  };
  const Case cases[] = {
      {"Healthy", false, "abc123456", "", false, Verdict::kSucceeded},
      {"Healthy", false, "abc123456", "abc1234", false, Verdict::kSucceeded},
      {"Healthy", false, "abc123456", "def4567", false, Verdict::kPending},  // older commit
      {"Degraded", false, "abc123456", "abc1234", false, Verdict::kFailed},
      {"Degraded", false, "old000000", "abc1234", false, Verdict::kPending},  // stale failure
      {"Progressing", true, "abc123456", "", false, Verdict::kFailed},
      {"Progressing", false, "abc123456", "", false, Verdict::kPending},
      {"Paused", false, "abc123456", "", false, Verdict::kPending},
      {"Paused", false, "abc123456", "", true, Verdict::kSucceeded},
  };
  for (const auto& c : cases) {
    INFO(c.phase << " aborted=" << c.aborted << " expected=" << c.expected);
    auto j = judge_status(rollout(c.phase, c.aborted, c.commit), {c.expected, c.on_pause});
    CHECK(j.verdict == c.verdict);
    CHECK_FALSE(j.summary.empty());
  }
  // An aborted update: the summary says what serves, not "at" the version that was rolled back.
  json aborted = rollout("Degraded", true, "abc123456");
  aborted["stable"] = {{"revision", 6}, {"version", "2.3.0"}};
  aborted["sync"] = {{"status", "OutOfSync"}, {"reason", "revision 7 (2.3.1) aborted: ..."}};
  CHECK(judge_status(aborted, {}).summary ==
        "orders-api is Degraded (aborted): revision 7 (2.3.1, commit abc12345) was rolled back; "
        "2.3.0 serves; OutOfSync");
  CHECK(commit_matches("abcdef0123", "abcdef"));
  CHECK_FALSE(commit_matches("", "abc"));
}

TEST_CASE("rollout rendering marks the current step and shows weights", "[cli][view]") {
  json r = rollout("Paused", false, "abc123456");
  r["weights"] = {{"stable", 80}, {"canary", 20}};
  r["currentStepIndex"] = 1;
  r["steps"] = json::parse(R"([
    {"setWeight": 20}, {"pause": {}}, {"pause": {"duration": "5s"}},
    {"analysis": {"templates": [{"templateName": "success-rate"}]}},
    {"setCanaryScale": {"replicas": 2}},
    {"setHeaderRoute": {"name": "testers",
                        "match": [{"headerName": "X-Canary", "headerValue": {"exact": "1"}}]}}
  ])");
  r["canary"] = {{"revision", 7}, {"version", "2.3.1"}, {"replicas", 1}, {"ready", 1}};
  std::string text = render_rollout(r, false);
  // Steps are numbered from 1 as people count them; currentStepIndex 1 is the second step.
  CHECK(text.find("Step:      2/6\n") != std::string::npos);
  CHECK(text.find(" v 1. setWeight 20%\n") != std::string::npos);
  CHECK(text.find("-> 2. pause (until promoted)\n") != std::string::npos);
  CHECK(text.find("   3. pause 5s\n") != std::string::npos);
  CHECK(text.find("   4. analysis success-rate\n") != std::string::npos);
  CHECK(text.find("   5. setCanaryScale 2 replicas\n") != std::string::npos);
  CHECK(text.find("   6. setHeaderRoute testers (X-Canary=1)\n") != std::string::npos);
  CHECK(text.find(" 0. ") == std::string::npos);
  CHECK(text.find("stable 80% canary 20%") != std::string::npos);
  CHECK(text.find("ready 1/1") != std::string::npos);
  CHECK(text.find("\033[") == std::string::npos);  // no colour when not asked
  std::string table = render_rollout_table({{"items", json::array({r})}}, false);
  CHECK(table.find("orders-api") != std::string::npos);
  CHECK(table.find(" 2/6 ") != std::string::npos);
}

TEST_CASE("step labels are 1-based and a finished rollout has no current step", "[cli][view]") {
  const json steps = json::parse(R"([{"setWeight": 20}, {"pause": {}}, {"setWeight": 50},
                                     {"pause": {"duration": "5s"}}, {"setWeight": 100}])");
  json r = rollout("Progressing", false, "abc123456");
  r["steps"] = steps;
  r["canary"] = {{"revision", 7}, {"version", "2.3.1"}, {"replicas", 1}, {"ready", 1}};
  struct Case {
    int index;
    bool in_progress;
    std::string label;
  };
  for (const Case& c : std::vector<Case>{{0, true, "1/5"},
                                         {3, true, "4/5"},
                                         {4, true, "5/5"},
                                         {5, true, "5/5"},  // every step done, still finishing
                                         {5, false, ""},    // finished: Healthy, no update
                                         {0, false, ""}}) {
    INFO("index " << c.index << " in progress " << c.in_progress);
    json x = r;
    x["currentStepIndex"] = c.index;
    if (!c.in_progress) {
      x["canary"] = nullptr;
      x["phase"] = "Healthy";
    }
    CHECK(step_label(x) == c.label);
    const std::string text = render_rollout(x, false);
    CHECK(text.find(" 0. ") == std::string::npos);
    CHECK(text.find(" 6. ") == std::string::npos);
    CHECK(text.find("6/5") == std::string::npos);
    if (c.in_progress && c.index < 5) {
      CHECK(text.find(fmt::format("-> {}. ", c.index + 1)) != std::string::npos);
    } else {
      CHECK(text.find("->") == std::string::npos);
    }
    if (!c.in_progress) CHECK(text.find("Step:") == std::string::npos);
    const std::string table = render_rollout_table({{"items", json::array({x})}}, false);
    const std::string row = table.substr(table.find('\n') + 1);
    CHECK(row.find(c.label.empty() ? " - " : " " + c.label + " ") != std::string::npos);
  }
  json no_steps = rollout("Progressing", false, "abc123456");
  no_steps["currentStepIndex"] = 0;
  CHECK(step_label(no_steps).empty());
}

TEST_CASE("the revision tree lists revisions, their instances and analysis runs",
          "[cli][view]") {
  json r = rollout("Progressing", false, "abc123456");
  r["strategy"] = "canary";
  r["stable"] = {{"revision", 2}, {"version", "2.0.0"}, {"replicas", 2}, {"ready", 2}};
  r["canary"] = {{"revision", 3}, {"version", "3.0.0"}, {"replicas", 1}, {"ready", 0}};
  r["desired"] = {{"revision", 3}, {"version", "3.0.0"}, {"commit", "abc123456"}};
  r["instances"] = json::parse(R"([
    {"id": "orders-api-2-0", "revision": 2, "version": "2.0.0", "role": "stable", "ready": true,
     "terminating": false, "startedAt": "2026-12-07T10:00:00.000Z",
     "readySince": "2026-12-07T10:00:02.000Z", "restarts": 0, "crashLoop": false,
     "lastExit": null, "lastError": ""},
    {"id": "orders-api-3-0", "revision": 3, "version": "3.0.0", "role": "canary", "ready": false,
     "terminating": false, "startedAt": "2026-12-07T10:59:30.000Z", "readySince": null,
     "restarts": 2, "crashLoop": true,
     "lastExit": {"code": 1, "signal": null, "reason": "exited with code 1",
                  "at": "2026-12-07T10:59:50.000Z"},
     "lastError": "readiness probe: connection refused"},
    {"id": "orders-api-2-1", "revision": 2, "version": "2.0.0", "role": "stable", "ready": true,
     "terminating": true, "startedAt": "2026-12-05T09:00:00.000Z", "readySince": null,
     "restarts": 0, "crashLoop": false, "lastExit": null, "lastError": ""}
  ])");
  r["analysisRuns"] = json::parse(R"([
    {"name": "orders-api-r3.a0.step2", "phase": "Failed", "metrics": [
      {"name": "success-rate", "phase": "Failed", "measurements": [
        {"value": 0.99, "phase": "Successful"}, {"value": 0.7, "phase": "Failed"},
        {"value": 0.6, "phase": "Failed"}, {"value": null, "phase": "Error"}]}]},
    {"name": "orders-api-r2.a0.background", "phase": "Successful", "metrics": [
      {"name": "success-rate", "phase": "Successful", "measurements": [
        {"value": 0.99, "phase": "Successful"}]}]}
  ])");
  // 2026-12-07T11:00:00Z
  const int64_t now = 1796641200;
  const std::string tree = render_revision_tree(r, false, now);
  INFO(tree);
  const size_t rev3 = tree.find("# revision 3  3.0.0  canary\n");
  const size_t rev2 = tree.find("# revision 2  2.0.0  stable\n");
  REQUIRE(rev3 != std::string::npos);
  REQUIRE(rev2 != std::string::npos);
  CHECK(rev3 < rev2);  // newest first
  // Revision 3: its instance (not ready, age 30s, restarts and last exit), then its run.
  const std::string r3 = tree.substr(rev3, rev2 - rev3);
  CHECK(r3.find("\u251c\u2500\u2500 \u25a1 orders-api-3-0") != std::string::npos);
  CHECK(r3.find("\u2716 not ready") != std::string::npos);
  CHECK(r3.find(" 30s  restarts:2 CrashLoopBackOff last exit: exited with code 1 (10s ago)") !=
        std::string::npos);
  CHECK(r3.find("error: readiness probe: connection refused") != std::string::npos);
  CHECK(r3.find("\u2514\u2500\u2500 \u03b1 orders-api-r3.a0.step2") != std::string::npos);
  CHECK(r3.find("\u2714 1 \u2716 2 \u26a0 1") != std::string::npos);
  // Revision 2: both instances sorted by id (one terminating, aged in days), then its run.
  const std::string r2 = tree.substr(rev2);
  CHECK(r2.find("orders-api-2-0") < r2.find("orders-api-2-1"));
  CHECK(r2.find("\u2714 ready") != std::string::npos);
  CHECK(r2.find(" 60m  restarts:0") != std::string::npos);
  CHECK(r2.find("terminating") != std::string::npos);
  CHECK(r2.find("   2d  restarts:0") != std::string::npos);
  CHECK(r2.find("\u2514\u2500\u2500 \u03b1 orders-api-r2.a0.background") != std::string::npos);
  CHECK(r2.find("\u2714 1 \u2716 0") != std::string::npos);
  CHECK(tree.find("\033[") == std::string::npos);
  // render_rollout ends with the tree; without instances or runs there is none.
  CHECK(render_rollout(r, false, now).find(tree) != std::string::npos);
  json bare = rollout("Healthy", false, "abc123456");
  CHECK(render_revision_tree(bare, false, now).empty());
  CHECK(age_text("2026-12-07T10:58:00.000Z", now) == "2m");
  CHECK(age_text(nullptr, now) == "-");
  CHECK(age_text("not a time", now) == "-");
}

TEST_CASE("server URLs", "[cli][client]") {
  auto a = parse_server_url("http://127.0.0.1:7070");
  REQUIRE(a.is_ok());
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == "7070");
  auto b = parse_server_url("http://[::1]:8080/");
  REQUIRE(b.is_ok());
  CHECK(b->host == "::1");
  CHECK(b->port == "8080");
  CHECK_FALSE(parse_server_url("https://example").is_ok());
  CHECK_FALSE(parse_server_url("http://").is_ok());
}

TEST_CASE("get and status show the sync status and where undo goes", "[cli][client]") {
  json r = {{"name", "orders-api"},
            {"phase", "Healthy"},
            {"aborted", false},
            {"strategy", "canary"},
            {"desired", {{"revision", 2}, {"version", "2.0.0"}, {"commit", "abc1234def"}}},
            {"stable", {{"revision", 2}, {"version", "2.0.0"}, {"replicas", 2}, {"ready", 2}}},
            {"canary", nullptr},
            {"weights", {{"stable", 100}, {"canary", 0}}},
            {"sync",
             {{"status", "OutOfSync"},
              {"reason", "undo to revision 2 (2.0.0) by alice; Git says 3.0.0 at 0123456"}}},
            {"undo", {{"toRevision", 1}, {"version", "1.0.0"}}}};
  const std::string text = render_rollout(r, false);
  CHECK(text.find("\nSync:      OutOfSync (undo to revision 2 (2.0.0) by alice; Git says 3.0.0 "
                  "at 0123456)\n") != std::string::npos);
  CHECK(text.find("\nUndo:      to revision 1 (1.0.0)\n") != std::string::npos);
  const std::string table = render_rollout_table({{"items", json::array({r})}}, false);
  CHECK(table.find(" SYNC ") != std::string::npos);
  CHECK(table.find(" OutOfSync ") != std::string::npos);
  StatusJudgement j = judge_status(r, StatusCriteria{});
  CHECK(j.verdict == Verdict::kSucceeded);  // drift is reported, not judged
  CHECK(j.summary.find("OutOfSync (undo to revision 2") != std::string::npos);

  r["sync"] = {{"status", "Synced"}, {"reason", ""}};
  r["undo"] = nullptr;
  CHECK(render_rollout(r, false).find("\nSync:      Synced\n") != std::string::npos);
  CHECK(render_rollout(r, false).find("Undo:") == std::string::npos);
  r.erase("sync");  // an older server: no line, no failure
  CHECK(render_rollout(r, false).find("Sync:") == std::string::npos);
}
