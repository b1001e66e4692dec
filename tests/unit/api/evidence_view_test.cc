// `sluice status` and `events` print evidence for people: one line per measurement.
#include "cli/evidence_view.h"

#include <catch2/catch.hpp>

using namespace sluice::cli;
using nlohmann::json;

TEST_CASE("evidence of an analysis abort renders one line per measurement", "[cli][evidence]") {
  json m1 = {{"at", "2026-12-02T05:01:23.692Z"}, {"phase", "Failed"}, {"value", 0.7941176},
             {"message", "34 requests, 7 errors"}, {"query", "request-success-rate{...}"}};
  json m2 = m1;
  m2["value"] = nullptr;
  m2["phase"] = "Error";
  json evidence = {
      {"analysisRun",
       {{"name", "orders-api-r3.a0.background"},
        {"phase", "Failed"},
        {"metrics",
         json::array({{{"name", "success-rate"},
                       {"phase", "Failed"},
                       {"message", "failed 2 time(s)"},
                       {"measurements", json::array({m1, m2})}}})}}}};
  const std::string text = render_evidence(evidence, "  ");
  CHECK(text ==
        "  analysis run orders-api-r3.a0.background (Failed)\n"
        "    metric success-rate: Failed (failed 2 time(s))\n"
        "      05:01:23.692  Failed         0.7941  34 requests, 7 errors\n"
        "      05:01:23.692  Error               -  34 requests, 7 errors\n"
        "      query: request-success-rate{...}\n");
  CHECK(render_evidence(json::object()).empty());
  CHECK(render_evidence(nullptr).empty());
}

TEST_CASE("evidence of a crash loop names each instance and its last exit", "[cli][evidence]") {
  json evidence = {{"instances",
                    json::array({{{"id", "web-2-0"},
                                  {"ready", false},
                                  {"restarts", 3},
                                  {"lastExit", {{"description", "exited with code 1"}}},
                                  {"lastError", ""}}})}};
  CHECK(render_evidence(evidence, "") ==
        "instance web-2-0: not ready, 3 restarts, last exit: exited with code 1\n");
}
