#include <catch2/catch.hpp>

#include "cli/client.h"
#include "cli/client_view.h"

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
  CHECK(text.find(" v 0. setWeight 20%\n") != std::string::npos);
  CHECK(text.find("-> 1. pause (until promoted)\n") != std::string::npos);
  CHECK(text.find("   2. pause 5s\n") != std::string::npos);
  CHECK(text.find("   3. analysis success-rate\n") != std::string::npos);
  CHECK(text.find("   4. setCanaryScale 2 replicas\n") != std::string::npos);
  CHECK(text.find("   5. setHeaderRoute testers (X-Canary=1)\n") != std::string::npos);
  CHECK(text.find("stable 80% canary 20%") != std::string::npos);
  CHECK(text.find("ready 1/1") != std::string::npos);
  CHECK(text.find("\033[") == std::string::npos);  // no colour when not asked
  std::string table = render_rollout_table({{"items", json::array({r})}}, false);
  CHECK(table.find("orders-api") != std::string::npos);
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
