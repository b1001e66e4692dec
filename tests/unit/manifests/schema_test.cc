#include <catch2/catch.hpp>
#include "tests/support/paths/paths.h"

#include <fstream>
#include <sstream>

#include "manifests/schema.h"

using sluice::manifests::generate_schema;

TEST_CASE("the committed JSON Schema matches the decoders", "[schema]") {
  std::ifstream in(sluice::test::source_dir() + "/manifests/schema/sluice.schema.json");
  REQUIRE(in.good());
  std::stringstream buf;
  buf << in.rdbuf();
  const nlohmann::json committed = nlohmann::json::parse(buf.str());
  INFO("regenerate with: build/bin/sluice schema > manifests/schema/sluice.schema.json");
  CHECK(committed == generate_schema());
}

TEST_CASE("the schema names every contract field with its type", "[schema]") {
  const nlohmann::json s = generate_schema();
  const auto& rollout = s["$defs"]["Rollout"];
  CHECK(rollout["additionalProperties"] == false);
  const auto& spec = rollout["properties"]["spec"]["properties"];
  CHECK(spec["replicas"]["type"] == "integer");
  CHECK(spec["replicas"]["minimum"] == 0);
  const auto& canary = spec["strategy"]["properties"]["canary"]["properties"];
  CHECK(canary["steps"]["items"]["properties"]["setWeight"]["maximum"] == 100);
  CHECK(canary["maxSurge"].contains("oneOf"));
  CHECK(spec["strategy"]["oneOf"].size() == 3);
  const auto& probe = spec["template"]["properties"]["readinessProbe"]["properties"];
  CHECK(probe["periodSeconds"]["minimum"] == 0.05);
  const auto& metric =
      s["$defs"]["AnalysisTemplate"]["properties"]["spec"]["properties"]["metrics"]["items"];
  CHECK(metric["properties"]["provider"]["oneOf"].size() == 8);
  CHECK(metric["required"] == nlohmann::json({"name", "provider"}));
}
