// What a notification says: the generic webhook body, the Slack body, the link, the HMAC.
#include <catch2/catch.hpp>

#include <algorithm>

#include "notify/message.h"

using namespace sluice::notify;
using nlohmann::json;

namespace {
json aborted_event() {
  json evidence = {
      {"analysisRun",
       {{"name", "shop-r2.a0.background"},
        {"phase", "Failed"},
        {"metrics",
         json::array({{{"name", "success-rate"},
                       {"phase", "Failed"},
                       {"measurements",
                        json::array({{{"value", 0.99}, {"phase", "Successful"}},
                                     {{"value", 0.4123456}, {"phase", "Failed"}}})}}})}}}};
  return {{"id", 41},
          {"time", "2026-12-07T21:00:00Z"},
          {"rollout", "shop"},
          {"revision", 2},
          {"version", "v2"},
          {"commit", "0123456789abcdef0123"},
          {"type", "Warning"},
          {"from", "Progressing"},
          {"to", "Degraded"},
          {"reason", "AnalysisFailed"},
          {"message", "background analysis Failed for revision 2: success-rate"},
          {"actor", "controller"},
          {"evidence", evidence}};
}
}  // namespace

TEST_CASE("the generic webhook body has exactly the contract's fields", "[notify]") {
  const json e = aborted_event();
  const std::string link = dashboard_url("https://sluice.example/", "shop");
  CHECK(link == "https://sluice.example/ui/#/rollouts/shop");
  const json body = webhook_body("on-rollout-aborted", e, link);
  std::vector<std::string> keys;
  for (auto it = body.begin(); it != body.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"commit", "dashboard", "event", "evidence", "message",
                                         "phase", "revision", "rollout", "trigger", "version"});
  CHECK(body["trigger"] == "on-rollout-aborted");
  CHECK(body["rollout"] == "shop");
  CHECK(body["revision"] == 2);
  CHECK(body["version"] == "v2");
  CHECK(body["commit"] == "0123456789abcdef0123");
  CHECK(body["phase"] == "Degraded");
  CHECK(body["message"] == e["message"]);
  CHECK(body["evidence"] == e["evidence"]);
  CHECK(body["event"] == e);
  CHECK(body["dashboard"] == link);
}

TEST_CASE("the Slack body names the rollout, version, short commit, reason, values and link",
          "[notify]") {
  const json e = aborted_event();
  const std::string link = dashboard_url("http://127.0.0.1:7070", "shop");
  const json body = slack_body("on-rollout-aborted", e, link);
  const std::string text = body["text"];
  CHECK(text.find("shop") != std::string::npos);
  CHECK(text.find("v2") != std::string::npos);
  CHECK(text.find("0123456") != std::string::npos);
  CHECK(text.find("0123456789") == std::string::npos);  // the short commit only
  CHECK(text.find("<" + link + "|") != std::string::npos);
  const json& a = body["attachments"][0];
  CHECK(a["color"] == "danger");
  CHECK(a["title_link"] == link);
  const std::string detail = a["text"];
  CHECK(detail.find("AnalysisFailed") != std::string::npos);
  CHECK(detail.find("success-rate=0.4123 (Failed)") != std::string::npos);
}

TEST_CASE("measured values keep only the newest value per metric and at most a few metrics",
          "[notify]") {
  json metrics = json::array();
  for (int i = 0; i < 6; ++i) {
    metrics.push_back({{"name", "m" + std::to_string(i)},
                       {"measurements", json::array({{{"value", i}, {"phase", "Successful"}}})}});
  }
  const std::string s = measured_values({{"analysisRun", {{"metrics", metrics}}}}, 2);
  CHECK(s == "m0=0 (Successful), m1=1 (Successful), ...");
  CHECK(measured_values(json::object(), 2).empty());
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2", "[notify]") {
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
