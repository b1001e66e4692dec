// Bounds on what one manifest may ask of the machine (issue 19, "Resource exhaustion"):
// - every $(VAR) expansion is bounded by size: a 1.9 KB manifest whose env entries each double
//   the one before asked for terabytes and crashed the controller with bad_alloc on every
//   restart. Lint and apply refuse it with file:line; nothing is expanded past the bound.
// - spec.replicas is bounded by the runtime's limit (256 unless serve raises it).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "manifests/expand.h"
#include "manifests/loader.h"

using namespace sluice::manifests;

namespace {

// E0 is `seed`; E1 = "$(E0)$(E0)" and so on up to E<n-1>; the command uses the last one.
std::string bomb(const std::string& seed, int n) {
  std::string env = "    env:\n      - {name: E0, value: \"" + seed + "\"}\n";
  for (int i = 1; i < n; ++i) {
    env += "      - {name: E" + std::to_string(i) + ", value: \"$(E" + std::to_string(i - 1) +
           ")$(E" + std::to_string(i - 1) + ")\"}\n";
  }
  return "apiVersion: sluice.dev/v1alpha1\n"
         "kind: Rollout\n"
         "metadata: {name: orders-api}\n"
         "spec:\n"
         "  replicas: 1\n"
         "  template:\n"
         "    version: \"1\"\n"
         "    command: [\"./bin/app\", \"--x=$(E" + std::to_string(n - 1) + ")\"]\n" +
         env +
         "    ports: [{name: http, containerPort: 0}]\n"
         "  strategy: {rollingUpdate: {}}\n";
}

std::vector<Diagnostic> diagnostics(const std::string& text) {
  return load_files({{"services/orders.yaml", text}}).diagnostics;
}

}  // namespace

TEST_CASE("an env expansion bomb is a positioned error, not an allocation",
          "[loader][bad-input][security]") {
  // The review's manifest: 40 entries from a 40-byte seed (about 2^39 * 40 bytes at E39).
  const std::string text = bomb(std::string(40, 'a'), 40);
  CHECK(text.size() < 4096);
  auto found = diagnostics(text);
  REQUIRE(found.size() == 1);
  // 40 * 2^12 = 163,840 > 128 KiB: E12 is the first entry too large, on line 10 + 12.
  CHECK(found[0].field == "spec.template.env[12].value");
  CHECK(found[0].pos.file == "services/orders.yaml");
  CHECK(found[0].pos.line == 22);
  CHECK_THAT(found[0].message, Catch::Contains("expands to more than 131072 bytes"));
}

TEST_CASE("a bomb built on a value known only at spawn time is caught too",
          "[loader][bad-input][security]") {
  // $(PORT) is left as written at lint time; the chain still doubles.
  auto found = diagnostics(bomb("$(PORT)", 40));
  REQUIRE(found.size() == 1);
  CHECK(found[0].field.rfind("spec.template.env[", 0) == 0);
  CHECK_THAT(found[0].message, Catch::Contains("nest too deeply"));
}

TEST_CASE("values under the bound pass, and the total is bounded as well",
          "[loader][bad-input]") {
  // 2^11 * 40 = 81,920 bytes at E11: every value fits.
  CHECK(diagnostics(bomb(std::string(40, 'a'), 12)).empty());
  // 12 entries of 100,000 bytes each fit one by one, 1.2 MB together do not.
  std::string env = "    env:\n";
  for (int i = 0; i < 12; ++i) {
    env += "      - {name: V" + std::to_string(i) + ", value: \"" + std::string(100000, 'v') +
           "\"}\n";
  }
  const std::string text = "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\n"
                           "metadata: {name: orders-api}\nspec:\n  replicas: 1\n  template:\n"
                           "    version: \"1\"\n    command: [\"./bin/app\"]\n" +
                           env +
                           "    ports: [{name: http, containerPort: 0}]\n"
                           "  strategy: {rollingUpdate: {}}\n";
  auto found = diagnostics(text);
  REQUIRE(found.size() == 1);
  CHECK(found[0].field == "spec.template.env");
  CHECK_THAT(found[0].message, Catch::Contains("more than the 1048576"));
}

TEST_CASE("spec.replicas above the runtime's limit is a positioned error",
          "[loader][bad-input]") {
  auto rollout = [](int replicas) {
    return "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: orders-api}\n"
           "spec:\n  replicas: " +
           std::to_string(replicas) +
           "\n  template:\n    version: \"1\"\n    command: [\"./bin/app\"]\n"
           "    ports: [{name: http, containerPort: 0}]\n  strategy: {rollingUpdate: {}}\n";
  };
  CHECK(diagnostics(rollout(256)).empty());
  auto found = diagnostics(rollout(100000));
  REQUIRE(found.size() == 1);
  CHECK(found[0].field == "spec.replicas");
  CHECK(found[0].pos.line == 5);
  CHECK_THAT(found[0].message, Catch::Contains("must be at most 256 (got 100000)"));
  LoadLimits raised;
  raised.max_replicas = 1000;
  CHECK(load_files({{"services/orders.yaml", rollout(1000)}}, raised).diagnostics.empty());
  LoadLimits lowered;
  lowered.max_replicas = 2;
  CHECK(load_files({{"services/orders.yaml", rollout(3)}}, lowered).diagnostics.size() == 1);
}

TEST_CASE("spec.gitWriteBack: revert on a server that cannot push is a positioned error",
          "[loader][bad-input]") {
  auto rollout = [](const std::string& on_abort) {
    return "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: orders-api}\n"
           "spec:\n  replicas: 1\n  gitWriteBack: {onAbort: " +
           on_abort +
           "}\n  template:\n    version: \"1\"\n    command: [\"./bin/app\"]\n"
           "    ports: [{name: http, containerPort: 0}]\n  strategy: {rollingUpdate: {}}\n";
  };
  auto loaded = load_files({{"services/orders.yaml", rollout("revert")}});
  REQUIRE(loaded.diagnostics.empty());
  REQUIRE(loaded.rollouts.size() == 1);
  REQUIRE(loaded.rollouts[0].rollout.spec.git_write_back);
  CHECK(loaded.rollouts[0].rollout.spec.git_write_back->on_abort == "revert");
  auto typo = diagnostics(rollout("revrt"));
  REQUIRE(typo.size() == 1);
  CHECK(typo[0].field == "spec.gitWriteBack.onAbort");
  CHECK(typo[0].pos.line == 6);

  LoadLimits read_only;
  read_only.git_write_back_refused = "https://git.example/d.git is read over HTTP without a token";
  auto refused = load_files({{"services/orders.yaml", rollout("revert")}}, read_only).diagnostics;
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].field == "spec.gitWriteBack.onAbort");
  CHECK(refused[0].pos.line == 6);
  CHECK_THAT(refused[0].message, Catch::Contains("without a token"));
  CHECK(load_files({{"services/orders.yaml", rollout("none")}}, read_only).diagnostics.empty());
}
