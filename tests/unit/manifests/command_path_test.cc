// command[0] is checked after $(VAR) expansion with the template's own env (issue 19,
// "Security"): a relative path that climbs out of the checkout is a positioned error at lint and
// apply time whenever its value is known there.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "manifests/loader.h"

using namespace sluice::manifests;

namespace {

std::string rollout_with(const std::string& command, const std::string& env) {
  return "apiVersion: sluice.dev/v1alpha1\n"
         "kind: Rollout\n"
         "metadata: {name: orders-api}\n"
         "spec:\n"
         "  replicas: 1\n"
         "  template:\n"
         "    version: \"1\"\n"
         "    command: " + command + "\n" +
         env +
         "    ports: [{name: http, containerPort: 0}]\n"
         "  strategy: {rollingUpdate: {}}\n";
}

std::vector<Diagnostic> diagnostics(const std::string& text) {
  return load_files({{"services/orders.yaml", text}}).diagnostics;
}

}  // namespace

TEST_CASE("command[0] that expands to a path out of the checkout is a positioned error",
          "[loader][bad-input][security]") {
  struct Case {
    const char* name;
    std::string command;
    std::string env;
    const char* expanded;
  };
  const std::vector<Case> cases = {
      {"one variable", "[\"$(P)\"]", "    env: [{name: P, value: \"../../bin/sh\"}]\n",
       "../../bin/sh"},
      {"variables built from variables", "[\"$(DIR)/x\"]",
       "    env: [{name: UP, value: \"..\"}, {name: DIR, value: \"bin/$(UP)/$(UP)\"}]\n",
       "bin/../../x"},
      {"partly literal", "[\"tools/$(P)\", \"--flag\"]",
       "    env: [{name: P, value: \"../../../usr/bin/id\"}]\n", "tools/../../../usr/bin/id"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto found = diagnostics(rollout_with(c.command, c.env));
    REQUIRE(found.size() == 1);
    CHECK(found[0].field == "spec.template.command[0]");
    CHECK(found[0].pos.line == 8);
    CHECK_THAT(found[0].message, Catch::Contains(c.expanded));
    CHECK_THAT(found[0].message, Catch::Contains("climb out of the repository checkout"));
  }
}

TEST_CASE("command[0] expansions that stay inside, are absolute or are unknown are accepted",
          "[loader][security]") {
  const std::vector<std::pair<std::string, std::string>> ok = {
      {"[\"$(P)\"]", "    env: [{name: P, value: \"bin/../bin/app\"}]\n"},
      {"[\"$(P)\"]", "    env: [{name: P, value: \"/usr/bin/python3\"}]\n"},
      {"[\"$(HOME)/bin/app\"]", ""},            // known only at spawn time
      {"[\"$(DIR)/../../x\"]", "    env: [{name: DIR, value: \"$(HOME)/tools\"}]\n"},  // spawn time
      {"[\"$$(P)/x\"]", "    env: [{name: P, value: \"../..\"}]\n"},  // $$: the literal $(P)/x
      {"[\"./bin/app\", \"$(P)\"]", "    env: [{name: P, value: \"../..\"}]\n"},  // an argument
  };
  for (const auto& [command, env] : ok) {
    INFO(command << " " << env);
    CHECK(diagnostics(rollout_with(command, env)).empty());
  }
}

TEST_CASE("a $(SLUICE_ROLE) reference is a positioned error that points at SLUICE_ROLE_FILE",
          "[loader][bad-input]") {
  auto found = diagnostics(rollout_with("[\"bin/svc\", \"--role\", \"$(SLUICE_ROLE)\"]",
                                        "    env: [{name: R, value: \"x-$(SLUICE_ROLE)\"}]\n"));
  REQUIRE(found.size() == 2);
  std::map<std::string, int> lines;
  for (const auto& d : found) {
    lines[d.field] = d.pos.line;
    CHECK_THAT(d.message, Catch::Contains("SLUICE_ROLE_FILE"));
  }
  CHECK(lines == std::map<std::string, int>{{"spec.template.command[2]", 8},
                                            {"spec.template.env[0].value", 9}});
  // The file's name itself is provided and fine.
  CHECK(diagnostics(rollout_with("[\"bin/svc\", \"--role-file\", \"$(SLUICE_ROLE_FILE)\"]", ""))
            .empty());
}
