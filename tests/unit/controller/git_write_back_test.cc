// Git write-back, the controller's side (controller/git_write_back.cc): an automatic abort asks
// for one, the abort verb does not; the outcome is an event and persisted state, so a restart
// neither repeats a finished write-back nor forgets a pending one; and the revert commit, once
// the watcher delivers it, starts no revision and scales nothing.
#include <catch2/catch.hpp>

#include "tests/unit/controller/harness.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using nlohmann::json;

namespace {

manifests::Rollout orders(const std::string& version, bool write_back = true) {
  manifests::CanaryStrategy canary;
  canary.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  canary.steps = {manifests::SetWeightStep{50}, manifests::PauseStep{}};
  auto r = make_rollout("orders", version, 2, canary);
  if (write_back) r.spec.git_write_back = manifests::GitWriteBack{"revert"};
  return r;
}

// A write-back that answers only when the test says so.
struct FakeWriteBack {
  GitWriteBackDeps deps;
  std::vector<GitWriteBackRequest> requests;
  std::vector<std::function<void(GitWriteBackOutcome)>> pending;
  FakeWriteBack() {
    deps.start = [this](const GitWriteBackRequest& r, std::function<void(GitWriteBackOutcome)> d) {
      requests.push_back(r);
      pending.push_back(std::move(d));
    };
  }
};

std::vector<json> events_with(const Controller& c, const std::string& reason) {
  std::vector<json> out;
  for (const auto& e : c.events()) {
    if (e.at("reason") == reason) out.push_back(e);
  }
  return out;
}

// Revision 1 (1.0.0) stable, then revision 2 (2.0.0, commit c0ffee2) crash-loops and is aborted.
void abort_revision_2(Harness& h) {
  h.apply({orders("1.0.0")});
  h.run_for(Duration(5000));
  REQUIRE(h.rollout("orders")["phase"] == "Healthy");
  h.apply({orders("2.0.0")});
  h.run_for(Duration(2000));
  h.runtime.set_crash_loop("orders", 2);
  h.run_for(Duration(2000));
  REQUIRE(h.rollout("orders")["aborted"] == true);
}

}  // namespace

TEST_CASE("an automatic abort asks for one write-back and a restart neither forgets nor repeats it",
          "[controller][gitwriteback]") {
  FakeWriteBack wb;
  Harness h;
  h.git_write_back = &wb.deps;
  h.make();
  abort_revision_2(h);

  REQUIRE(wb.requests.size() == 1);
  const GitWriteBackRequest& req = wb.requests[0];
  CHECK(req.rollout == "orders");
  CHECK(req.revision == 2);
  CHECK(req.version == "2.0.0");
  CHECK(req.commit == "c0ffee2");
  CHECK(req.stable_revision == 1);
  CHECK(req.stable_template.version == "1.0.0");
  CHECK(req.reason.rfind("CrashLoop: ", 0) == 0);
  CHECK(h.rollout("orders")["gitWriteBack"]["result"] == "Pending");

  // A crash before the outcome: the pending write-back is started again by the next reconcile.
  REQUIRE(h.crash_and_recover().is_ok());
  h.apply({orders("2.0.0")});  // the source re-delivers the same commit after a restart
  h.run_for(Duration(2000));
  REQUIRE(wb.requests.size() == 2);
  CHECK(wb.requests[1].revision == 2);
  CHECK(h.rollout("orders")["gitWriteBack"]["result"] == "Pending");

  GitWriteBackOutcome pushed;
  pushed.pushed = true;
  pushed.commit = "4e7e47";
  pushed.reverted_commit = "c0ffee2";
  pushed.file = "services/orders.yaml";
  pushed.attempts = 1;
  wb.pending[1](pushed);
  h.run_for(Duration(100));
  auto done = events_with(*h.controller, "GitWriteBack");
  REQUIRE(done.size() == 1);
  CHECK(done[0]["type"] == "Normal");
  CHECK(done[0]["revision"] == 2);
  CHECK(done[0]["evidence"]["commit"] == "4e7e47");
  CHECK(done[0]["message"].get<std::string>().find("4e7e47") != std::string::npos);
  json object = h.rollout("orders");
  CHECK(object["gitWriteBack"]["result"] == "Pushed");
  CHECK(object["gitWriteBack"]["revertCommit"] == "4e7e47");
  CHECK(object["stable"]["revision"] == 1);

  // The old process's late answer changes nothing, and a restart repeats nothing.
  wb.pending[0](pushed);
  REQUIRE(h.crash_and_recover().is_ok());
  h.apply({orders("2.0.0")});
  h.run_for(Duration(5000));
  CHECK(wb.requests.size() == 2);
  CHECK(h.rollout("orders")["gitWriteBack"]["result"] == "Pushed");
}

TEST_CASE("the abort verb and onAbort none ask for no write-back", "[controller][gitwriteback]") {
  FakeWriteBack wb;
  Harness h;
  h.git_write_back = &wb.deps;
  h.make();
  h.apply({orders("1.0.0")});
  h.run_for(Duration(5000));
  h.apply({orders("2.0.0")});
  h.run_for(Duration(3000));
  REQUIRE(h.verb("orders", Verb::kAbort));
  h.run_for(Duration(3000));
  REQUIRE(h.rollout("orders")["aborted"] == true);
  CHECK(wb.requests.empty());
  CHECK(h.rollout("orders")["gitWriteBack"].is_null());

  // An automatic abort of a Rollout that says none (the server default here is none as well).
  h.apply({orders("3.0.0", /*write_back=*/false)});
  h.run_for(Duration(2000));
  h.runtime.set_crash_loop("orders", 3);
  h.run_for(Duration(2000));
  REQUIRE(h.rollout("orders")["aborted"] == true);
  CHECK(wb.requests.empty());
}

TEST_CASE("a failed write-back is a Warning and the rollout stays on stable",
          "[controller][gitwriteback]") {
  FakeWriteBack wb;
  wb.deps.default_on_abort = "revert";  // the server default; the Rollout says nothing
  Harness h;
  h.git_write_back = &wb.deps;
  h.make();
  h.apply({orders("1.0.0", false)});
  h.run_for(Duration(5000));
  h.apply({orders("2.0.0", false)});
  h.run_for(Duration(2000));
  h.runtime.set_crash_loop("orders", 2);
  h.run_for(Duration(2000));
  REQUIRE(wb.requests.size() == 1);
  GitWriteBackOutcome failed;
  failed.status = failed_precondition("push to main refused: pre-receive hook declined");
  wb.pending[0](failed);
  h.run_for(Duration(5000));
  auto warnings = events_with(*h.controller, "GitWriteBackFailed");
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0]["type"] == "Warning");
  CHECK(warnings[0]["evidence"]["error"] == "push to main refused: pre-receive hook declined");
  json object = h.rollout("orders");
  CHECK(object["gitWriteBack"]["result"] == "GaveUp");
  CHECK(object["stable"]["revision"] == 1);
  CHECK(object["weights"]["stable"] == 100);
  CHECK(h.runtime.ready("orders", 1) == 2);
  CHECK(h.runtime.ready("orders", 2) == 0);
}

TEST_CASE("the revert commit starts no revision and scales nothing", "[controller][gitwriteback]") {
  FakeWriteBack wb;
  Harness h;
  h.git_write_back = &wb.deps;
  h.make();
  abort_revision_2(h);
  REQUIRE(wb.requests.size() == 1);
  GitWriteBackOutcome pushed;
  pushed.pushed = true;
  pushed.commit = "4e7e47";
  pushed.reverted_commit = "c0ffee2";
  wb.pending[0](pushed);
  h.run_for(Duration(40'000));  // past the aborted revision's abortScaleDownDelaySeconds (30 s)
  REQUIRE(h.runtime.observe("orders").size() == 2);  // stable's two instances, nothing else
  const json before = h.rollout("orders");
  std::vector<std::string> stable_ids;
  for (const auto& i : h.runtime.observe("orders")) stable_ids.push_back(i.id);
  const size_t scale_calls = h.runtime.scale_calls().size();
  const size_t revisions = h.controller->states().at("orders").revisions.size();
  std::vector<std::string> phases;
  h.on_event = [&](const json& e) { phases.push_back(e.at("to").get<std::string>()); };

  h.apply({orders("1.0.0")});  // the watcher delivers the revert: Git says 1.0.0 again
  h.run_for(Duration(10'000));

  const RolloutState& state = h.controller->states().at("orders");
  CHECK(state.revisions.size() == revisions);
  CHECK(state.next_revision == 3);
  CHECK(events_with(*h.controller, "RevisionCreated").size() == 2);
  CHECK(h.runtime.scale_calls().size() == scale_calls);
  std::vector<std::string> ids_after;
  for (const auto& i : h.runtime.observe("orders")) ids_after.push_back(i.id);
  CHECK(ids_after == stable_ids);
  json after = h.rollout("orders");
  CHECK(after["phase"] == "Healthy");
  CHECK(after["aborted"] == false);
  CHECK(after["stable"]["revision"] == 1);
  CHECK(after["canary"].is_null());
  CHECK(after["sync"]["status"] == "Synced");
  // The rollout never claims to roll anything out on the way.
  for (const auto& p : phases) CHECK(p != "Progressing");
  auto cancelled = events_with(*h.controller, "UpdateCancelled");
  REQUIRE(cancelled.size() == 1);
  CHECK(cancelled[0]["type"] == "Normal");
  CHECK(before["stable"]["revision"] == 1);
}
