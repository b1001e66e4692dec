// The YAML parse guard runs yaml-cpp in a real forked child; these tests use inputs on which
// yaml-cpp 0.7 never returns (found by tests/fuzz/manifests_loader_fuzz).
#include "manifests/parse_guard.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "manifests/loader.h"

using namespace sluice::manifests;
using namespace std::chrono_literals;

namespace {

// Passes every loader precheck (UTF-8, depth, a document that does not start with flow or
// quoted content), then makes yaml-cpp 0.7 loop and allocate forever (found by a random search
// of short inputs; checked with a bare yaml-cpp program under `timeout`).
const std::string kHangs = "- \n,\n  :\"\n  ";

const std::string kGood = "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\n";

}  // namespace

TEST_CASE("parse guard passes texts the child finished, including syntax errors", "[guard]") {
  const std::string bad_syntax = "a: [1, 2\n";
  YamlParseGuard guard({kGood, bad_syntax, kGood}, 5'000ms);
  CHECK(guard.wait_for(0) == GuardVerdict::kParsed);
  CHECK(guard.wait_for(1) == GuardVerdict::kParsed);
  CHECK(guard.wait_for(2) == GuardVerdict::kParsed);
}

TEST_CASE("parse guard refuses a text yaml-cpp never finishes and goes on after it", "[guard]") {
  YamlParseGuard guard({kGood, kHangs, kGood, kHangs, kGood}, 300ms);
  CHECK(guard.wait_for(0) == GuardVerdict::kParsed);
  CHECK(guard.wait_for(1) == GuardVerdict::kTimedOut);
  CHECK(guard.wait_for(2) == GuardVerdict::kParsed);
  // Skipping an index still judges it: the child hangs on 3, so 4 needs a new child.
  CHECK(guard.wait_for(4) == GuardVerdict::kParsed);
}

TEST_CASE("loader refuses a hanging file with its name and loads the others", "[guard]") {
  const std::string rollout =
      "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n"
      "  replicas: 1\n  template:\n    command: [/bin/true]\n"
      "  strategy:\n    canary:\n      steps: [{setWeight: 50}]\n";
  LoadLimits limits;
  limits.parse_timeout = 300ms;
  const ManifestSet set =
      load_files({{"a.yaml", rollout}, {"hang.yaml", kHangs}, {"b.yaml", kGood}}, limits);
  REQUIRE(set.find_rollout("web") != nullptr);
  CHECK(set.unguarded_files == 1);
  bool named = false;
  for (const auto& d : set.diagnostics) {
    if (d.pos.file == "hang.yaml") {
      named = true;
      CHECK(d.message.find("did not finish within 300 ms") != std::string::npos);
    }
  }
  CHECK(named);

  const std::vector<ManifestSet> each =
      load_each({{"a.yaml", rollout}, {"hang.yaml", kHangs}}, limits);
  REQUIRE(each.size() == 2);
  CHECK(each[0].find_rollout("web") != nullptr);
  CHECK(each[0].unguarded_files == 0);
  CHECK(each[1].unguarded_files == 1);
}
