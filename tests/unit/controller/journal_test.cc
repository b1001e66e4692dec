#include "controller/journal.h"

#include <catch2/catch.hpp>

#include "controller/journal_format.h"
#include "journal_fault_filesystem.h"
#include "journal_test_support.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::journal_testing;
namespace jf = sluice::controller::journal_format;

TEST_CASE("crc32c matches the Castagnoli check value", "[journal]") {
  CHECK(jf::crc32c("123456789") == 0xE3069283u);
  CHECK(jf::crc32c("") == 0u);
  // Continuation equals one pass, across the 8-byte fast path boundary.
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over.";
  CHECK(jf::crc32c(text.substr(13), jf::crc32c(text.substr(0, 13))) == jf::crc32c(text));
}

TEST_CASE("file names carry the sequence number", "[journal]") {
  CHECK(jf::segment_name(1) == "journal-00000000000000000001.log");
  CHECK(jf::snapshot_name(42) == "snapshot-00000000000000000042.snap");
  CHECK(jf::parse_segment_name("journal-00000000000000000007.log") == 7u);
  CHECK(jf::parse_snapshot_name("snapshot-00000000000000000042.snap") == 42u);
  CHECK_FALSE(jf::parse_segment_name("journal-7.log"));
  CHECK_FALSE(jf::parse_segment_name("journal-0000000000000000000x.log"));
  CHECK_FALSE(jf::parse_segment_name("journal-99999999999999999999.log"));  // > 2^64
  CHECK_FALSE(jf::parse_snapshot_name("snapshot-00000000000000000042.snap.tmp"));
}

TEST_CASE("records round-trip through close and reopen", "[journal]") {
  JournalTempDir dir;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options_for(dir.path));
    Recovery empty = journal->recover();
    CHECK_FALSE(empty.snapshot);
    CHECK(empty.tail.empty());
    for (uint64_t seq = 1; seq <= 100; ++seq) {
      auto appended = journal->append(payload_for(seq));
      REQUIRE(appended.is_ok());
      CHECK(*appended == seq);
    }
    REQUIRE(journal->append("").is_ok());  // empty payloads are records too
    REQUIRE(journal->sync().is_ok());
    CHECK(journal->synced_seq() == 101);
  }
  auto journal = open_ok(fs, clock, options_for(dir.path));
  Recovery recovery = journal->recover();
  REQUIRE(recovery.tail.size() == 101);
  CHECK(seqs_of(recovery.tail) == range(1, 101));
  recovery.tail.pop_back();
  CHECK(payloads_match(recovery.tail));
  CHECK(recovery.report.torn_bytes_dropped == 0);
  CHECK(journal->last_seq() == 101);
  CHECK(*journal->append("next") == 102);
  // recover() hands the data over once.
  CHECK(journal->recover().tail.empty());
}

TEST_CASE("oversized payloads are refused without harming the journal", "[journal]") {
  JournalTempDir dir;
  SimulatedClock clock;
  auto journal = open_ok(PosixFilesystem::instance(), clock, options_for(dir.path));
  const std::string huge(kJournalMaxPayloadBytes + 1, 'x');
  CHECK(journal->append(huge).status().code() == StatusCode::kInvalidArgument);
  CHECK(journal->health().is_ok());
  CHECK(*journal->append("fine") == 1);
}

TEST_CASE("group commit: one fsync per batch, and sync() is free when idle", "[journal]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  auto options = options_for(dir.path);
  options.sync_every_records = 10;
  auto journal = open_ok(fs, clock, options);
  const int base_syncs = fs.file_syncs;
  for (uint64_t seq = 1; seq <= 95; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
  CHECK(fs.file_syncs - base_syncs == 9);
  CHECK(journal->synced_seq() == 90);
  REQUIRE(journal->sync().is_ok());
  CHECK(journal->synced_seq() == 95);
  CHECK(fs.file_syncs - base_syncs == 10);
  REQUIRE(journal->sync().is_ok());
  CHECK(fs.file_syncs - base_syncs == 10);  // nothing pending, no fsync
}

TEST_CASE("time-based sync fires on append and on maybe_sync", "[journal]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  auto options = options_for(dir.path);
  options.sync_every = Duration(100);
  auto journal = open_ok(fs, clock, options);
  REQUIRE(journal->append("a").is_ok());
  clock.advance(Duration(50));
  REQUIRE(journal->append("b").is_ok());
  CHECK(journal->synced_seq() == 0);
  REQUIRE(journal->maybe_sync().is_ok());
  CHECK(journal->synced_seq() == 0);
  clock.advance(Duration(50));  // the oldest unsynced record is now 100 ms old
  REQUIRE(journal->maybe_sync().is_ok());
  CHECK(journal->synced_seq() == 2);
  REQUIRE(journal->append("c").is_ok());
  clock.advance(Duration(150));
  REQUIRE(journal->append("d").is_ok());  // due: the append itself syncs
  CHECK(journal->synced_seq() == 4);
}

TEST_CASE("a power loss keeps every synced record and loses only unsynced ones", "[journal]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  auto options = options_for(dir.path);
  options.write_buffer_bytes = 0;  // every append reaches the OS, none is durable
  {
    auto journal = open_ok(fs, clock, options);
    for (uint64_t seq = 1; seq <= 10; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->sync().is_ok());
    for (uint64_t seq = 11; seq <= 15; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
  }
  fs.drop_unsynced_data();
  auto journal = open_ok(fs, clock, options);
  Recovery recovery = journal->recover();
  CHECK(seqs_of(recovery.tail) == range(1, 10));
  CHECK(payloads_match(recovery.tail));
  CHECK(*journal->append("after") == 11);
}

TEST_CASE("segments roll by size and replay across all of them", "[journal]") {
  JournalTempDir dir;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  auto options = options_for(dir.path);
  options.max_segment_bytes = 1000;
  {
    auto journal = open_ok(fs, clock, options);
    for (uint64_t seq = 1; seq <= 200; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  auto names = fs.list_dir(dir.path);
  REQUIRE(names.is_ok());
  CHECK(names->size() > 5);
  for (const auto& name : *names) {
    INFO(name);
    CHECK(*fs.file_size(dir.file(name)) < 1000 + 100);
  }
  auto journal = open_ok(fs, clock, options);
  Recovery recovery = journal->recover();
  CHECK(seqs_of(recovery.tail) == range(1, 200));
  CHECK(payloads_match(recovery.tail));
}

TEST_CASE("snapshots cover old segments, which are deleted, and the tail follows", "[journal]") {
  JournalTempDir dir;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  auto options = options_for(dir.path);
  options.snapshot_every_records = 10;
  {
    auto journal = open_ok(fs, clock, options);
    for (uint64_t seq = 1; seq <= 25; ++seq) {
      REQUIRE(journal->append(payload_for(seq)).is_ok());
      if (journal->snapshot_due()) {
        REQUIRE(journal->write_snapshot(seq, "state@" + std::to_string(seq)).is_ok());
        CHECK_FALSE(journal->snapshot_due());
      }
    }
    CHECK(journal->snapshot_seq() == 20);
    REQUIRE(journal->sync().is_ok());
  }
  CHECK(*fs.list_dir(dir.path) ==
        std::vector<std::string>{jf::segment_name(21), jf::snapshot_name(20)});
  auto journal = open_ok(fs, clock, options);
  Recovery recovery = journal->recover();
  REQUIRE(recovery.snapshot);
  CHECK(recovery.snapshot->seq == 20);
  CHECK(recovery.snapshot->payload == "state@20");
  CHECK(seqs_of(recovery.tail) == range(21, 25));
  CHECK(payloads_match(recovery.tail));
  CHECK(*journal->append("next") == 26);
}

TEST_CASE("a snapshot behind the last record keeps the segment holding later ones", "[journal]") {
  JournalTempDir dir;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options_for(dir.path));
    for (uint64_t seq = 1; seq <= 30; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->write_snapshot(25, "state@25").is_ok());
    CHECK(journal->write_snapshot(24, "older").code() == StatusCode::kInvalidArgument);
    CHECK(journal->write_snapshot(31, "future").code() == StatusCode::kInvalidArgument);
    for (uint64_t seq = 31; seq <= 33; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  auto journal = open_ok(fs, clock, options_for(dir.path));
  Recovery recovery = journal->recover();
  REQUIRE(recovery.snapshot);
  CHECK(recovery.snapshot->seq == 25);
  CHECK(seqs_of(recovery.tail) == range(26, 33));
  CHECK(payloads_match(recovery.tail));
}

TEST_CASE("a snapshot of an empty journal, then records after it", "[journal]") {
  JournalTempDir dir;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options_for(dir.path));
    REQUIRE(journal->write_snapshot(0, "initial").is_ok());
    REQUIRE(journal->append(payload_for(1)).is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  auto journal = open_ok(fs, clock, options_for(dir.path));
  Recovery recovery = journal->recover();
  REQUIRE(recovery.snapshot);
  CHECK(recovery.snapshot->payload == "initial");
  CHECK(seqs_of(recovery.tail) == range(1, 1));
}

TEST_CASE("other files in the state dir are left alone", "[journal]") {
  JournalTempDir dir;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  for (const char* name : {"lock", "rollouts.json", "journal-1.log", "snapshot-x.snap"}) {
    auto file = fs.open_writable(dir.file(name), OpenMode::kTruncate);
    REQUIRE(file.is_ok());
    REQUIRE((*file)->append("not ours").is_ok());
  }
  {
    auto journal = open_ok(fs, clock, options_for(dir.path));
    REQUIRE(journal->append(payload_for(1)).is_ok());
    REQUIRE(journal->write_snapshot(1, "state@1").is_ok());
    REQUIRE(journal->append(payload_for(2)).is_ok());
    REQUIRE(journal->sync().is_ok());
    CHECK(journal->recover().report.removed_files.empty());
  }
  for (const char* name : {"lock", "rollouts.json", "journal-1.log", "snapshot-x.snap"}) {
    INFO(name);
    CHECK(*fs.read_file(dir.file(name)) == "not ours");
  }
  auto journal = open_ok(fs, clock, options_for(dir.path));
  CHECK(seqs_of(journal->recover().tail) == range(2, 2));
}

TEST_CASE("a new segment's directory entry is synced before records go into it", "[journal]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  auto options = options_for(dir.path);
  options.max_segment_bytes = 200;
  auto journal = open_ok(fs, clock, options);
  CHECK(fs.dir_syncs == 1);  // the first segment
  const auto segments_now = [&] {
    int count = 0;
    const auto names = fs.list_dir(dir.path);
    REQUIRE(names.is_ok());
    for (const auto& name : *names) count += jf::parse_segment_name(name) ? 1 : 0;
    return count;
  };
  for (uint64_t seq = 1; seq <= 20; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
  REQUIRE(journal->sync().is_ok());
  CHECK(segments_now() > 1);
  CHECK(fs.dir_syncs == segments_now());
}

TEST_CASE("a failing sync inside write_snapshot poisons the journal", "[journal]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  auto journal = open_ok(fs, clock, options_for(dir.path));
  REQUIRE(journal->append(payload_for(1)).is_ok());
  fs.fail_sync = true;
  const Status failed = journal->write_snapshot(1, "state@1");
  CHECK_FALSE(failed.is_ok());
  CHECK_FALSE(journal->health().is_ok());
  CHECK_FALSE(fs.exists(dir.file(jf::snapshot_name(1))));
}
