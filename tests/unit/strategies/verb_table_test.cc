// Every operator verb in every state, for every strategy: which are accepted, and that an
// accepted verb does what it says. (A refused verb cannot change anything here: apply_verb takes
// the status by const reference; the controller test checks that nothing is recorded either.)
#include <catch2/catch.hpp>

#include "tests/unit/strategies/world.h"

using namespace sluice;
using namespace sluice::strategies;
using sluice::strategies::testing::World;

namespace {

enum class Kind { kRolling, kBasicCanary, kRoutedCanary, kBlueGreen };
enum class State { kHealthy, kProgressing, kAtGate, kOperatorPaused, kAborted };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kRolling:
      return "rolling";
    case Kind::kBasicCanary:
      return "basic canary";
    case Kind::kRoutedCanary:
      return "routed canary";
    case Kind::kBlueGreen:
      return "blue-green";
  }
  return "?";
}

const char* state_name(State s) {
  switch (s) {
    case State::kHealthy:
      return "healthy";
    case State::kProgressing:
      return "progressing";
    case State::kAtGate:
      return "at a pause/promotion gate";
    case State::kOperatorPaused:
      return "paused by an operator";
    case State::kAborted:
      return "aborted";
  }
  return "?";
}

manifests::RolloutSpec spec_for(Kind kind) {
  manifests::RolloutSpec spec;
  spec.replicas = 2;
  if (kind == Kind::kRolling) {
    spec.strategy = manifests::RollingUpdateStrategy{};
  } else if (kind == Kind::kBlueGreen) {
    manifests::BlueGreenStrategy bg;
    bg.auto_promotion_enabled = false;
    spec.strategy = bg;
  } else {
    manifests::CanaryStrategy c;
    c.steps = {manifests::SetWeightStep{50}, manifests::PauseStep{}};
    if (kind == Kind::kRoutedCanary) c.traffic_routing = manifests::TrafficRouting{true, {}};
    spec.strategy = c;
  }
  return spec;
}

// A world in `state`: revision 1 stable, revision 2 (if any) in progress.
World world_in(Kind kind, State state) {
  World w(spec_for(kind));
  w.start_revision(1);
  w.settle();
  REQUIRE(w.status.phase == Phase::kHealthy);
  if (state == State::kHealthy) return w;
  w.start_revision(2);
  if (state == State::kAtGate) {
    w.settle();
    REQUIRE(w.status.phase == Phase::kPaused);
    return w;
  }
  w.never_ready.insert(2);
  w.settle();
  REQUIRE(w.status.phase == Phase::kProgressing);
  if (state == State::kOperatorPaused) {
    w.status = apply_verb(w.spec, w.status, OperatorVerb::kPause, false, "", w.now)->status;
    w.step();
    REQUIRE(w.status.operator_paused);
  } else if (state == State::kAborted) {
    w.status = apply_verb(w.spec, w.status, OperatorVerb::kAbort, false, "", w.now)->status;
    w.step();
    REQUIRE(w.status.aborted);
  }
  return w;
}

struct VerbCase {
  OperatorVerb verb;
  bool full;
  const char* name;
};

const VerbCase kVerbs[] = {
    {OperatorVerb::kPromote, false, "promote"}, {OperatorVerb::kPromote, true, "promote --full"},
    {OperatorVerb::kAbort, false, "abort"},     {OperatorVerb::kRetry, false, "retry"},
    {OperatorVerb::kPause, false, "pause"},     {OperatorVerb::kResume, false, "resume"}};

// Accepted verbs per state (the same for every strategy, except that a rolling update has no
// gate and so nothing to promote past).
bool accepted(Kind kind, State state, const VerbCase& v) {
  switch (v.verb) {
    case OperatorVerb::kPromote:
      if (v.full) return state != State::kHealthy && state != State::kAborted;
      return state == State::kAtGate && kind != Kind::kRolling;
    case OperatorVerb::kAbort:
      return state != State::kHealthy && state != State::kAborted;
    case OperatorVerb::kRetry:
      return state == State::kAborted;
    case OperatorVerb::kPause:
      return state != State::kOperatorPaused;
    case OperatorVerb::kResume:
      return state == State::kOperatorPaused;
  }
  return false;
}

// What an accepted verb must have done to the status.
void check_effect(const RolloutStatus& before, const VerbOutcome& out, const VerbCase& v) {
  const RolloutStatus& s = out.status;
  CHECK_FALSE(out.transition.reason.empty());
  CHECK_FALSE(out.transition.message.empty());
  switch (v.verb) {
    case OperatorVerb::kPromote:
      if (v.full) {
        CHECK(s.promote_full);
      } else {
        CHECK((s.current_step_index == before.current_step_index + 1 || s.promote_requested));
      }
      break;
    case OperatorVerb::kAbort:
      CHECK(s.aborted);
      CHECK(s.phase == Phase::kDegraded);
      CHECK(s.message.find("aborted") != std::string::npos);
      break;
    case OperatorVerb::kRetry:
      CHECK_FALSE(s.aborted);
      CHECK(s.attempt == before.attempt + 1);
      CHECK(s.update_revision == before.update_revision);
      CHECK(s.current_step_index == 0);
      break;
    case OperatorVerb::kPause:
      CHECK(s.operator_paused);
      break;
    case OperatorVerb::kResume:
      CHECK_FALSE(s.operator_paused);
      break;
  }
}

}  // namespace

TEST_CASE("every verb in every state, for every strategy", "[verbs]") {
  for (Kind kind : {Kind::kRolling, Kind::kBasicCanary, Kind::kRoutedCanary, Kind::kBlueGreen}) {
    for (State state : {State::kHealthy, State::kProgressing, State::kAtGate,
                        State::kOperatorPaused, State::kAborted}) {
      if (kind == Kind::kRolling && state == State::kAtGate) continue;  // no gates
      World w = world_in(kind, state);
      for (const VerbCase& v : kVerbs) {
        INFO(kind_name(kind) << ", " << state_name(state) << ": " << v.name);
        auto out = apply_verb(w.spec, w.status, v.verb, v.full, "alice", w.now);
        if (accepted(kind, state, v)) {
          REQUIRE(out);
          check_effect(w.status, *out, v);
        } else {
          REQUIRE_FALSE(out);
          CHECK(out.status().code() == StatusCode::kFailedPrecondition);
          CHECK_FALSE(out.status().message().empty());
        }
      }
    }
  }
}

TEST_CASE("an accepted verb takes effect in the next decision", "[verbs]") {
  SECTION("abort: all traffic to stable at once, update scaled away") {
    World w = world_in(Kind::kRoutedCanary, State::kAtGate);
    REQUIRE(w.last.weights.at(2) == 50);
    w.status = apply_verb(w.spec, w.status, OperatorVerb::kAbort, false, "", w.now)->status;
    w.step();
    CHECK(w.last.weights == std::map<int64_t, int>{{1, 100}});
    CHECK(w.status.phase == Phase::kDegraded);
  }
  SECTION("operator pause holds the gate even when promoted; resume continues") {
    World w = world_in(Kind::kBasicCanary, State::kAtGate);
    w.status = apply_verb(w.spec, w.status, OperatorVerb::kPause, false, "", w.now)->status;
    w.status = apply_verb(w.spec, w.status, OperatorVerb::kPromote, true, "", w.now)->status;
    REQUIRE_FALSE(w.status.operator_paused);  // promote --full also lifts an operator pause
    w.settle();
    CHECK(w.status.stable_revision == 2);
  }
  SECTION("retry of an aborted blue-green starts the preview again") {
    World w = world_in(Kind::kBlueGreen, State::kAborted);
    w.never_ready.clear();
    w.status = apply_verb(w.spec, w.status, OperatorVerb::kRetry, false, "", w.now)->status;
    w.settle();
    CHECK(w.status.phase == Phase::kPaused);  // at the promotion gate (autoPromotion off)
    REQUIRE(w.last.preview_revision);
    CHECK(*w.last.preview_revision == 2);
  }
}
