// The ConsumersExceedPartitions warning: a kafka measurement reports the topic's partition count
// (scripted here through the fake runner), the controller compares it with the consumers the
// strategy may run at once and records one Warning event per revision.
#include <catch2/catch.hpp>

#include "tests/unit/controller/harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using nlohmann::json;

namespace {

fakes::ScriptedOutcome kafka_read(int partitions) {
  fakes::ScriptedOutcome o;
  o.provider = "kafka";
  o.value = 0;
  o.topic = "orders";
  o.topic_partitions = partitions;
  return o;
}

manifests::CanaryStrategy gated_canary(int max_surge) {
  manifests::CanaryStrategy c;
  c.max_surge = manifests::IntOrPercent{max_surge, false};
  manifests::RolloutAnalysis gate;
  gate.templates.push_back({"consumer-lag"});
  c.steps = {manifests::SetWeightStep{25}, gate};
  return c;
}

std::vector<json> partition_warnings(const Controller& c) {
  std::vector<json> out;
  for (const auto& e : c.events()) {
    if (e.at("reason") == "ConsumersExceedPartitions") out.push_back(e);
  }
  return out;
}

// Rolls out 1.0.0 then 1.1.0 of `orders` with `strategy`, the gate's runs reading `partitions`.
void roll_out(Harness& h, const manifests::Strategy& strategy, int replicas, int partitions) {
  h.analysis.script = [partitions](const analysis::AnalysisRunSpec&) {
    return kafka_read(partitions);
  };
  const auto templ = make_template("consumer-lag");
  h.apply({make_rollout("orders", "1.0.0", replicas, strategy, false)}, {templ});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", replicas, strategy, false)}, {templ});
  h.run_for(Duration(30'000));
}

}  // namespace

TEST_CASE("canary: replicas + maxSurge over the topic's partitions is one Warning event",
          "[controller][kafka]") {
  Harness h;
  roll_out(h, gated_canary(1), 4, 4);
  const auto warnings = partition_warnings(*h.controller);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0]["type"] == "Warning");
  CHECK(warnings[0]["revision"] == 2);
  CHECK(warnings[0]["message"] ==
        "replicas + maxSurge = 5 exceeds the 4 partitions of topic orders: at least 1 consumer "
        "will be idle");
  CHECK(warnings[0]["evidence"]["topic"] == "orders");
  CHECK(warnings[0]["evidence"]["partitions"] == 4);
  CHECK(warnings[0]["evidence"]["consumers"] == 5);
  // A warning, not a verdict: the rollout completes.
  CHECK(h.rollout("orders")["phase"] == "Healthy");
  CHECK(h.rollout("orders")["stable"]["revision"] == 2);

  // The next revision is warned about once more, with its own number.
  h.apply({make_rollout("orders", "1.2.0", 4, gated_canary(1), false)},
          {make_template("consumer-lag")});
  h.run_for(Duration(30'000));
  const auto later = partition_warnings(*h.controller);
  REQUIRE(later.size() == 2);
  CHECK(later[1]["revision"] == 3);
}

TEST_CASE("no warning while the consumers fit the partitions", "[controller][kafka]") {
  Harness h;
  roll_out(h, gated_canary(1), 4, 5);
  CHECK(partition_warnings(*h.controller).empty());
  CHECK(h.rollout("orders")["phase"] == "Healthy");
}

TEST_CASE("a warning recorded before a restart is not recorded again", "[controller][kafka]") {
  Harness h;
  h.analysis.script = [](const analysis::AnalysisRunSpec&) { return kafka_read(2); };
  auto strategy = gated_canary(1);
  strategy.steps.push_back(manifests::PauseStep{});  // stays on this revision
  h.apply({make_rollout("orders", "1.0.0", 3, strategy, false)}, {make_template("consumer-lag")});
  h.run_for(Duration(5000));
  h.apply({make_rollout("orders", "1.1.0", 3, strategy, false)}, {make_template("consumer-lag")});
  h.run_for(Duration(30'000));
  REQUIRE(partition_warnings(*h.controller).size() == 1);
  CHECK(partition_warnings(*h.controller)[0]["message"] ==
        "replicas + maxSurge = 4 exceeds the 2 partitions of topic orders: at least 2 consumers "
        "will be idle");
  REQUIRE(h.crash_and_recover().is_ok());
  h.run_for(Duration(30'000));
  CHECK(partition_warnings(*h.controller).size() == 1);
}

TEST_CASE("blue-green compares max(replicas, previewReplicaCount) with the partitions",
          "[controller][kafka]") {
  manifests::BlueGreenStrategy bg;
  manifests::RolloutAnalysis gate;
  gate.templates.push_back({"consumer-lag"});
  bg.pre_promotion_analysis = gate;
  Harness h;
  roll_out(h, bg, 3, 2);
  const auto warnings = partition_warnings(*h.controller);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0]["message"] ==
        "max(replicas, previewReplicaCount) = 3 exceeds the 2 partitions of topic orders: at "
        "least 1 consumer will be idle");
}
