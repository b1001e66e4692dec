// Durability fails closed (issue 19): the real Controller over a real JournalSink and Journal on
// a filesystem that fails (a full disk, a failing fsync). While records cannot be made durable
// the controller takes no action, refuses verbs with kUnavailable and the reason, and says why in
// the rollout object and the facade's readiness; when the filesystem works again it reopens the
// journal by itself, writes what it held, and resumes. A restart from the disk then gives back
// the same state.
#include <catch2/catch.hpp>

#include "controller/journal_sink.h"
#include "tests/unit/controller/harness.h"
#include "tests/unit/controller/journal_fault_filesystem.h"
#include "tests/unit/controller/journal_test_support.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using namespace sluice::journal_testing;
using nlohmann::json;

namespace {

manifests::CanaryStrategy routed_canary(std::vector<manifests::CanaryStep> steps) {
  manifests::CanaryStrategy c;
  c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  c.steps = std::move(steps);
  c.scale_down_delay = Duration(5000);
  c.abort_scale_down_delay = Duration(5000);
  return c;
}

// A controller over a real journal in `dir` on `fs`, wired as `sluice serve` wires it: the sink
// owns the journal and reopens it through the same filesystem.
struct DurableController {
  SimulatedClock clock;
  SimulatedScheduler scheduler{clock};
  fakes::FakeRuntime runtime{clock};
  fakes::FakeRouter router;
  fakes::FakeAnalysisRunner analysis{clock};
  FaultFilesystem fs;
  std::string dir;
  std::unique_ptr<JournalSink> sink;
  std::unique_ptr<Controller> controller;
  std::unique_ptr<ControllerFacade> facade;
  int commits = 0;

  explicit DurableController(std::string journal_dir) : dir(std::move(journal_dir)) {
    router.runtime = &runtime;
    start();
  }

  // (Re)starts the process: opens the journal on disk and replays it, as serve does.
  void start() {
    facade.reset();
    controller.reset();
    sink.reset();
    auto journal = open_ok(fs, clock, options_for(dir));
    Recovery recovery = journal->recover();
    sink = std::make_unique<JournalSink>(std::move(journal), [this] {
      return Journal::open(fs, clock, options_for(dir));
    });
    controller = std::make_unique<Controller>(
        ControllerDeps{clock, scheduler, runtime, router, analysis, *sink});
    std::vector<json> records;
    for (const auto& r : recovery.tail) records.push_back(json::parse(r.payload));
    REQUIRE(controller->recover(nullptr, records).is_ok());
    runtime.set_listener([this](const std::string& r) { controller->enqueue(r); });
    facade = std::make_unique<ControllerFacade>(*controller, scheduler);
    facade->set_ready(true);
  }

  void apply(const std::string& version) {
    DesiredState d;
    d.commit = "c0ffee" + std::to_string(++commits);
    d.author = "dev";
    d.time = clock.now();
    d.manifests.rollouts.push_back(
        {make_rollout("orders", version, 4,
                      routed_canary({manifests::SetWeightStep{50}, manifests::PauseStep{}})),
         {}});
    controller->apply_desired(d);
  }

  // A commit without the Rollout: it is pruned.
  void apply_nothing() {
    DesiredState d;
    d.commit = "c0ffee" + std::to_string(++commits);
    d.author = "dev";
    d.time = clock.now();
    controller->apply_desired(d);
  }

  Result<json> verb(Verb v) {
    VerbRequest req;
    req.rollout = "orders";
    req.verb = v;
    req.actor = "tester";
    return controller->command(req);
  }

  json rollout() { return *controller->rollout_json("orders"); }

  size_t scales_of(int64_t revision) const {
    size_t n = 0;
    for (const auto& c : runtime.scale_calls()) n += c.revision == revision ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("a full disk holds the controller: no action, verbs refused with the reason, it "
          "resumes by itself when space returns and a restart keeps every acknowledged verb",
          "[controller][durability]") {
  JournalTempDir tmp;
  DurableController c(tmp.path);
  c.apply("1.0.0");
  c.clock.advance(Duration(5000));
  REQUIRE(c.rollout()["phase"] == "Healthy");
  REQUIRE(c.controller->durability().is_ok());
  REQUIRE(c.facade->ready());

  // The disk fills; the next commit's record cannot be written.
  c.fs.write_budget = 0;
  c.apply("1.1.0");
  const size_t scale_calls = c.runtime.scale_calls().size();
  const int applies = c.router.applies;
  c.clock.advance(Duration(30'000));

  // No canary, no traffic moved.
  CHECK(c.runtime.scale_calls().size() == scale_calls);
  CHECK(c.scales_of(2) == 0);
  CHECK(c.router.applies == applies);
  CHECK(c.router.weight("orders", 2) == 0);
  const Status held = c.controller->durability();
  REQUIRE_FALSE(held.is_ok());
  CHECK(held.message().find("No space left on device") != std::string::npos);
  // The rollout object and readiness say why.
  json r = c.rollout();
  REQUIRE(r["durability"].is_object());
  CHECK(r["durability"]["error"] == held.message());
  CHECK(r["durability"]["retries"].get<int>() > 0);
  CHECK(r["message"].get<std::string>().find("not durable") != std::string::npos);
  CHECK_FALSE(c.facade->ready());
  CHECK(c.facade->not_ready_reason() == held.message());
  CHECK(c.facade->metrics_text().find("sluice_state_durable 0") != std::string::npos);

  // Verbs are refused with the reason and change nothing.
  const json before = c.controller->snapshot();
  for (Verb v : {Verb::kPromote, Verb::kAbort, Verb::kPause, Verb::kResume, Verb::kRetry}) {
    auto out = c.verb(v);
    REQUIRE_FALSE(out);
    CHECK(out.status().code() == StatusCode::kUnavailable);
    CHECK(out.status().message().find("No space left on device") != std::string::npos);
  }
  CHECK(c.controller->snapshot() == before);

  // Space returns: the controller recovers without a restart and the canary starts.
  c.fs.write_budget = -1;
  c.clock.advance(Duration(15'000));
  REQUIRE(c.controller->durability().is_ok());
  CHECK(c.sink->health().is_ok());
  CHECK(c.rollout()["durability"].is_null());
  CHECK(c.facade->ready());
  CHECK(c.facade->metrics_text().find("sluice_state_durable 1") != std::string::npos);
  CHECK(c.scales_of(2) > 0);
  CHECK(c.router.weight("orders", 2) == 50);
  CHECK(c.rollout()["phase"] == "Paused");

  // An acknowledged verb survives a kill -9 that loses everything not fsynced.
  auto promoted = c.verb(Verb::kPromote);
  REQUIRE(promoted);
  const json rollouts = c.controller->snapshot()["rollouts"];
  c.fs.drop_unsynced_data();
  c.start();
  CHECK(c.controller->snapshot()["rollouts"] == rollouts);
  const auto& events = c.controller->events();
  REQUIRE_FALSE(events.empty());
  CHECK(events.back()["reason"] == "Promoted");
  std::set<uint64_t> ids;
  for (const auto& e : events) CHECK(ids.insert(e["id"].get<uint64_t>()).second);
}

TEST_CASE("a verb whose record cannot be synced is not acknowledged and is not acted on, the "
          "recovery writes it again instead of trusting what reads back",
          "[controller][durability]") {
  JournalTempDir tmp;
  DurableController c(tmp.path);
  c.apply("1.0.0");
  c.clock.advance(Duration(5000));
  c.apply("1.1.0");
  c.clock.advance(Duration(5000));
  REQUIRE(c.rollout()["phase"] == "Paused");
  REQUIRE(c.router.weight("orders", 2) == 50);

  // The record reaches the page cache, its fsync fails.
  c.fs.fail_sync = true;
  const size_t scale_calls = c.runtime.scale_calls().size();
  const int applies = c.router.applies;
  auto out = c.verb(Verb::kPromote);
  REQUIRE_FALSE(out);
  CHECK(out.status().code() == StatusCode::kUnavailable);
  CHECK(out.status().message().find("not acknowledged") != std::string::npos);
  c.clock.advance(Duration(20'000));
  CHECK(c.runtime.scale_calls().size() == scale_calls);
  CHECK(c.router.applies == applies);
  CHECK(c.router.weight("orders", 2) == 50);
  CHECK(c.sink->pending_records() > 0);

  // fsync works again: the held record is written again and acted on.
  c.fs.fail_sync = false;
  c.clock.advance(Duration(30'000));
  REQUIRE(c.controller->durability().is_ok());
  CHECK(c.rollout()["phase"] == "Healthy");
  CHECK(c.router.weight("orders", 2) == 100);

  // The journal on disk holds each record once, in order, and replays to the same state.
  const json rollouts = c.controller->snapshot()["rollouts"];
  const size_t events = c.controller->events().size();
  c.fs.drop_unsynced_data();
  c.start();
  CHECK(c.controller->snapshot()["rollouts"] == rollouts);
  CHECK(c.controller->events().size() == events);
  std::set<uint64_t> ids;
  for (const auto& e : c.controller->events()) CHECK(ids.insert(e["id"].get<uint64_t>()).second);
}

TEST_CASE("a Rollout pruned while the disk is full keeps its instances and route until its "
          "deletion is durable",
          "[controller][durability]") {
  JournalTempDir tmp;
  DurableController c(tmp.path);
  c.apply("1.0.0");
  c.clock.advance(Duration(5000));
  REQUIRE(c.runtime.ready("orders", 1) == 4);
  REQUIRE(c.router.tables.count("orders") == 1);

  c.fs.write_budget = 0;
  c.apply_nothing();
  c.clock.advance(Duration(30'000));
  CHECK_FALSE(c.controller->durability().is_ok());
  CHECK(c.runtime.ready("orders", 1) == 4);
  CHECK(c.router.tables.count("orders") == 1);

  c.fs.write_budget = -1;
  c.clock.advance(Duration(15'000));
  REQUIRE(c.controller->durability().is_ok());
  CHECK(c.runtime.ready("orders", 1) == 0);
  CHECK(c.router.tables.count("orders") == 0);
  c.fs.drop_unsynced_data();
  c.start();
  CHECK(c.controller->states().count("orders") == 0);
}

TEST_CASE("Journal::truncate_after cuts unacknowledged records of the last segment only",
          "[journal][durability]") {
  JournalTempDir tmp;
  FaultFilesystem fs;
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options_for(tmp.path));
    for (uint64_t s = 1; s <= 5; ++s) REQUIRE(journal->append(payload_for(s)).is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  auto journal = open_ok(fs, clock, options_for(tmp.path));
  REQUIRE(journal->last_seq() == 5);
  REQUIRE(journal->truncate_after(3).is_ok());
  CHECK(journal->last_seq() == 3);
  REQUIRE(journal->append(payload_for(4)).is_ok());
  REQUIRE(journal->sync().is_ok());
  journal.reset();
  auto reopened = open_ok(fs, clock, options_for(tmp.path));
  Recovery recovery = reopened->recover();
  CHECK(seqs_of(recovery.tail) == range(1, 4));
  CHECK(payloads_match(recovery.tail));
  // After an append, a cut would lose records the caller holds: refused.
  REQUIRE(reopened->append(payload_for(5)).is_ok());
  CHECK(reopened->truncate_after(2).code() == StatusCode::kFailedPrecondition);
}
