#include <catch2/catch.hpp>

#include "tests/unit/strategies/world.h"

using namespace sluice;
using namespace sluice::strategies;
using sluice::strategies::testing::World;

TEST_CASE("verbs in the wrong state fail with FailedPrecondition and change nothing", "[verbs]") {
  manifests::RolloutSpec spec;
  spec.replicas = 2;
  manifests::CanaryStrategy canary;
  canary.steps = {manifests::SetWeightStep{50}, manifests::PauseStep{}};
  spec.strategy = canary;
  World w(spec);
  w.start_revision(1);
  w.settle();
  REQUIRE(w.status.phase == Phase::kHealthy);

  struct Row {
    const char* state;
    OperatorVerb verb;
    bool full;
  };
  // Healthy, nothing in progress.
  for (const Row& r :
       {Row{"healthy", OperatorVerb::kPromote, false}, Row{"healthy", OperatorVerb::kPromote, true},
        Row{"healthy", OperatorVerb::kAbort, false}, Row{"healthy", OperatorVerb::kRetry, false},
        Row{"healthy", OperatorVerb::kResume, false}}) {
    INFO(r.state << " " << operator_verb_name(r.verb));
    auto out = apply_verb(w.spec, w.status, r.verb, r.full, "", w.now);
    REQUIRE_FALSE(out);
    CHECK(out.status().code() == StatusCode::kFailedPrecondition);
    CHECK_FALSE(out.status().message().empty());
  }
  // Progressing (not yet at the pause): promote is refused, retry too.
  w.start_revision(2);
  w.step();
  REQUIRE(w.status.phase == Phase::kProgressing);
  for (OperatorVerb v : {OperatorVerb::kPromote, OperatorVerb::kRetry, OperatorVerb::kResume}) {
    INFO("progressing " << operator_verb_name(v));
    auto out = apply_verb(w.spec, w.status, v, false, "", w.now);
    REQUIRE_FALSE(out);
    CHECK(out.status().code() == StatusCode::kFailedPrecondition);
  }
  // Paused by operator: pause again is refused; promote says to resume.
  w.status = apply_verb(w.spec, w.status, OperatorVerb::kPause, false, "", w.now)->status;
  auto again = apply_verb(w.spec, w.status, OperatorVerb::kPause, false, "", w.now);
  CHECK(again.status().code() == StatusCode::kFailedPrecondition);
  w.step();
  auto promote = apply_verb(w.spec, w.status, OperatorVerb::kPromote, false, "", w.now);
  CHECK(promote.status().code() == StatusCode::kFailedPrecondition);
  CHECK(promote.status().message().find("resume") != std::string::npos);
  w.status = apply_verb(w.spec, w.status, OperatorVerb::kResume, false, "", w.now)->status;
  // Aborted: abort again and promote are refused; retry works.
  w.status = apply_verb(w.spec, w.status, OperatorVerb::kAbort, false, "", w.now)->status;
  CHECK(apply_verb(w.spec, w.status, OperatorVerb::kAbort, false, "", w.now).status().code() ==
        StatusCode::kFailedPrecondition);
  CHECK(apply_verb(w.spec, w.status, OperatorVerb::kPromote, true, "", w.now).status().code() ==
        StatusCode::kFailedPrecondition);
  auto retry = apply_verb(w.spec, w.status, OperatorVerb::kRetry, false, "", w.now);
  REQUIRE(retry);
  CHECK_FALSE(retry->status.aborted);
  CHECK(retry->status.attempt == 1);
}

TEST_CASE("resume refuses to override spec.paused from Git", "[verbs]") {
  manifests::RolloutSpec spec;
  spec.paused = true;
  RolloutStatus s;
  auto out = apply_verb(spec, s, OperatorVerb::kResume, false, "", from_unix_ms(0));
  REQUIRE_FALSE(out);
  CHECK(out.status().message().find("spec.paused") != std::string::npos);
}
