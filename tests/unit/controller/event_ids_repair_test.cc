// Event ids stay unique and monotonic across `sluice journal repair` (issue 19): the repair cuts
// records whose events clients already saw, and the ids handed out after it must not repeat
// them (GET .../events?after=N would otherwise miss the new events).
#include <catch2/catch.hpp>
#include <cstring>

#include "controller/journal.h"
#include "controller/journal_sink.h"
#include "harness.h"
#include "journal_test_support.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::controller::testing;
using namespace sluice::journal_testing;

namespace {

// A controller over a real journal in `dir`, as `sluice serve` wires it.
struct JournalledController {
  SimulatedClock& clock;
  SimulatedScheduler scheduler{clock};
  fakes::FakeRuntime runtime{clock};
  fakes::FakeRouter router;
  fakes::FakeAnalysisRunner analysis{clock};
  Journal* journal = nullptr;  // owned by the sink
  std::unique_ptr<JournalSink> sink;
  std::unique_ptr<Controller> controller;
  int commits = 0;

  JournalledController(SimulatedClock& c, const std::string& dir) : clock(c) {
    sink = std::make_unique<JournalSink>(
        open_ok(PosixFilesystem::instance(), clock, options_for(dir)), [] {
          return Result<std::unique_ptr<Journal>>(unavailable("not reopened in this test"));
        });
    journal = sink->journal();
    controller = std::make_unique<Controller>(
        ControllerDeps{clock, scheduler, runtime, router, analysis, *sink});
    Recovery recovery = journal->recover();
    std::vector<nlohmann::json> records;
    for (const auto& r : recovery.tail) records.push_back(nlohmann::json::parse(r.payload));
    REQUIRE(controller->recover(nullptr, records).is_ok());
  }

  void commit(const std::string& version) {
    DesiredState d;
    d.commit = "c0ffee" + std::to_string(++commits);
    d.author = "dev";
    d.time = clock.now();
    d.manifests.rollouts.push_back(
        {make_rollout("orders", version, 2, manifests::RollingUpdateStrategy{}), {}});
    controller->apply_desired(d);
    clock.advance(Duration(100));
  }

  uint64_t max_event_id() const {
    uint64_t max = 0;
    for (const auto& e : controller->events()) max = std::max(max, e.at("id").get<uint64_t>());
    return max;
  }
};

// Byte offsets of the records in a segment file (the framing of controller/journal.h).
std::vector<uint64_t> record_offsets(const std::string& file) {
  auto data = PosixFilesystem::instance().read_file(file);
  REQUIRE(data.is_ok());
  std::vector<uint64_t> offsets;
  uint64_t at = 0;
  while (at + kJournalRecordHeaderBytes <= data->size()) {
    offsets.push_back(at);
    uint32_t length = 0;
    std::memcpy(&length, data->data() + at + 4, 4);
    at += kJournalRecordHeaderBytes + length;
  }
  return offsets;
}

}  // namespace

TEST_CASE("event ids issued after a journal repair are above every id issued before it",
          "[controller][journal][event-ids]") {
  JournalTempDir tmp;
  SimulatedClock clock;
  uint64_t issued_before = 0;
  {
    JournalledController c(clock, tmp.path);
    for (int i = 0; i < 8; ++i) c.commit("1.0." + std::to_string(i));
    REQUIRE(c.journal->sync().is_ok());
    issued_before = c.max_event_id();
    REQUIRE(issued_before >= 8);
  }
  // The repair the corruption error names: cut the only segment in its middle.
  auto names = PosixFilesystem::instance().list_dir(tmp.path);
  REQUIRE(names.is_ok());
  std::string segment;
  for (const auto& n : *names)
    if (n.starts_with("journal-")) segment = n;
  REQUIRE(!segment.empty());
  auto offsets = record_offsets(tmp.file(segment));
  REQUIRE(offsets.size() > 4);
  REQUIRE(Journal::truncate_at(PosixFilesystem::instance(), tmp.path, segment,
                               offsets[offsets.size() / 2])
              .is_ok());

  JournalledController after(clock, tmp.path);
  const uint64_t recovered_max = after.max_event_id();
  REQUIRE(recovered_max < issued_before);  // the repair did lose events clients had seen
  after.commit("2.0.0");

  std::vector<uint64_t> ids;
  for (const auto& e : after.controller->events()) ids.push_back(e.at("id").get<uint64_t>());
  for (size_t i = 1; i < ids.size(); ++i) CHECK(ids[i] > ids[i - 1]);  // monotonic
  std::vector<uint64_t> fresh;  // the events recorded after the repair
  for (uint64_t id : ids)
    if (id > recovered_max) fresh.push_back(id);
  REQUIRE(!fresh.empty());
  // None reuses an id handed out before the repair: `events?after=<old id>` finds them all.
  for (uint64_t id : fresh) CHECK(id > issued_before);
}

TEST_CASE("the journal keeps its id ceiling across reopen and repair",
          "[controller][journal][event-ids]") {
  JournalTempDir tmp;
  SimulatedClock clock;
  {
    auto journal = open_ok(PosixFilesystem::instance(), clock, options_for(tmp.path));
    CHECK(journal->id_ceiling() == 0);
    REQUIRE(journal->append("x").is_ok());
    REQUIRE(journal->sync().is_ok());
    REQUIRE(journal->reserve_ids(2000).is_ok());
    REQUIRE(journal->reserve_ids(1000).is_ok());  // never lowered
    CHECK(journal->id_ceiling() == 2000);
  }
  REQUIRE(Journal::truncate_at(PosixFilesystem::instance(), tmp.path,
                               "journal-00000000000000000001.log", 0)
              .is_ok());
  auto journal = open_ok(PosixFilesystem::instance(), clock, options_for(tmp.path));
  CHECK(journal->id_ceiling() == 2000);
  CHECK(journal->recover().tail.empty());
}
