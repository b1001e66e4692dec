// Crash and corruption: torn tails, flipped bytes, snapshot crashes, failing disks.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "controller/journal.h"
#include "controller/journal_format.h"
#include "journal_fault_filesystem.h"
#include "journal_test_support.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::journal_testing;
namespace jf = sluice::controller::journal_format;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// Writes records 1..count into dir (one segment) and returns the segment's bytes.
std::string make_segment(const std::string& dir, uint64_t count) {
  SimulatedClock clock;
  auto journal = open_ok(PosixFilesystem::instance(), clock, options_for(dir));
  for (uint64_t seq = 1; seq <= count; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
  REQUIRE(journal->sync().is_ok());
  return *PosixFilesystem::instance().read_file(join_path(dir, jf::segment_name(1)));
}

uint64_t offset_of(uint64_t seq) {
  uint64_t offset = 0;
  for (uint64_t s = 1; s < seq; ++s) offset += kJournalRecordHeaderBytes + payload_for(s).size();
  return offset;
}

}  // namespace

TEST_CASE("a torn last record is dropped at every cut point", "[journal][recovery]") {
  JournalTempDir source;
  const uint64_t count = 5;
  const std::string segment = make_segment(source.path, count);
  const uint64_t last_start = offset_of(count);
  REQUIRE(segment.size() == offset_of(count + 1));
  SimulatedClock clock;
  for (uint64_t cut = last_start; cut < segment.size(); ++cut) {
    INFO("cut at byte " << cut);
    JournalTempDir dir;
    const std::string path = dir.file(jf::segment_name(1));
    write_bytes(path, segment.substr(0, cut));
    {
      auto journal = open_ok(PosixFilesystem::instance(), clock, options_for(dir.path));
      Recovery recovery = journal->recover();
      CHECK(seqs_of(recovery.tail) == range(1, count - 1));
      CHECK(payloads_match(recovery.tail));
      CHECK(recovery.report.torn_bytes_dropped == cut - last_start);
      if (cut > last_start) {
        CHECK(recovery.report.torn_segment == jf::segment_name(1));
        CHECK(recovery.report.torn_offset == last_start);
      }
      CHECK(*PosixFilesystem::instance().file_size(path) == last_start);
      // The journal continues where the intact records end.
      auto seq = journal->append(payload_for(count));
      REQUIRE(seq.is_ok());
      CHECK(*seq == count);
      REQUIRE(journal->sync().is_ok());
    }
    auto journal = open_ok(PosixFilesystem::instance(), clock, options_for(dir.path));
    CHECK(seqs_of(journal->recover().tail) == range(1, count));
  }
}

TEST_CASE("a damaged last record (bad checksum, zeros) is a torn tail", "[journal][recovery]") {
  JournalTempDir dir;
  std::string segment = make_segment(dir.path, 4);
  SECTION("flipped payload byte") { segment[segment.size() - 2] ^= 0x40; }
  SECTION("zero-filled tail after the last record") { segment.append(4096, '\0'); }
  write_bytes(dir.file(jf::segment_name(1)), segment);
  SimulatedClock clock;
  auto journal = open_ok(PosixFilesystem::instance(), clock, options_for(dir.path));
  Recovery recovery = journal->recover();
  CHECK(recovery.report.torn_bytes_dropped > 0);
  CHECK_FALSE(recovery.report.torn_reason.empty());
  CHECK(recovery.tail.size() >= 3);
  CHECK(payloads_match(recovery.tail));
}

TEST_CASE("a flipped byte anywhere in a middle record refuses to open", "[journal][recovery]") {
  JournalTempDir source;
  const std::string segment = make_segment(source.path, 5);
  const uint64_t start = offset_of(3);
  const uint64_t end = offset_of(4);
  SimulatedClock clock;
  for (uint64_t at = start; at < end; ++at) {
    INFO("flipped byte " << at);
    JournalTempDir dir;
    std::string damaged = segment;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    write_bytes(dir.file(jf::segment_name(1)), damaged);
    auto journal = Journal::open(PosixFilesystem::instance(), clock, options_for(dir.path));
    REQUIRE_FALSE(journal.is_ok());
    CHECK(journal.status().code() == StatusCode::kDataLoss);
    const std::string& message = journal.status().message();
    CHECK_THAT(message, Catch::Contains(dir.file(jf::segment_name(1))));
    CHECK_THAT(message, Catch::Contains("byte offset " + std::to_string(start) + " "));
    CHECK_THAT(message,
               Catch::Contains("sluice journal repair --state-dir " + dir.path + " --segment " +
                               jf::segment_name(1) + " --truncate-at " + std::to_string(start)));
    // Nothing on disk was touched by the refused open.
    CHECK(*PosixFilesystem::instance().read_file(dir.file(jf::segment_name(1))) == damaged);
  }
}

TEST_CASE("the repair named by the error cuts the journal and it opens again",
          "[journal][recovery]") {
  JournalTempDir dir;
  auto options = options_for(dir.path);
  options.max_segment_bytes = 300;  // several segments, so later ones must go too
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options);
    for (uint64_t seq = 1; seq <= 40; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  const std::string first = dir.file(jf::segment_name(1));
  std::string bytes = *fs.read_file(first);
  const uint64_t start = offset_of(2);
  bytes[start + kJournalRecordHeaderBytes] ^= 0x7f;  // damage record 2's payload
  write_bytes(first, bytes);
  auto refused = Journal::open(fs, clock, options);
  REQUIRE(refused.status().code() == StatusCode::kDataLoss);

  CHECK(Journal::truncate_at(fs, dir.path, "not-a-segment", 0).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(Journal::truncate_at(fs, dir.path, jf::segment_name(1), bytes.size() + 1).status().code() ==
        StatusCode::kInvalidArgument);
  auto repaired = Journal::truncate_at(fs, dir.path, jf::segment_name(1), start);
  REQUIRE(repaired.is_ok());
  CHECK(repaired->bytes_dropped == bytes.size() - start);
  CHECK_FALSE(repaired->removed_segments.empty());

  auto journal = open_ok(fs, clock, options);
  CHECK(seqs_of(journal->recover().tail) == range(1, 1));
  CHECK(*journal->append("after repair") == 2);
}

TEST_CASE("corruption in an earlier segment is data loss even at its end", "[journal][recovery]") {
  JournalTempDir dir;
  auto options = options_for(dir.path);
  options.max_segment_bytes = 300;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options);
    for (uint64_t seq = 1; seq <= 40; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  const std::string first = dir.file(jf::segment_name(1));
  const uint64_t size = *fs.file_size(first);
  REQUIRE(fs.truncate(first, size - 3).is_ok());  // its last record is now short
  auto journal = Journal::open(fs, clock, options);
  REQUIRE(journal.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(journal.status().message(), Catch::Contains(first));
}

TEST_CASE("a missing segment or a corrupt snapshot is data loss", "[journal][recovery]") {
  JournalTempDir dir;
  auto options = options_for(dir.path);
  options.max_segment_bytes = 300;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options);
    for (uint64_t seq = 1; seq <= 40; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->write_snapshot(5, "state@5").is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  auto names = *fs.list_dir(dir.path);
  std::vector<std::string> segments;
  for (const auto& name : names) {
    if (jf::parse_segment_name(name)) segments.push_back(name);
  }
  REQUIRE(segments.size() >= 3);
  SECTION("middle segment removed") {
    REQUIRE(fs.remove(dir.file(segments[1])).is_ok());
    auto journal = Journal::open(fs, clock, options);
    CHECK(journal.status().code() == StatusCode::kDataLoss);
    CHECK_THAT(journal.status().message(), Catch::Contains("missing"));
  }
  SECTION("snapshot damaged") {
    const std::string snapshot = dir.file(jf::snapshot_name(5));
    std::string bytes = *fs.read_file(snapshot);
    bytes.back() ^= 0x01;
    write_bytes(snapshot, bytes);
    auto journal = Journal::open(fs, clock, options);
    CHECK(journal.status().code() == StatusCode::kDataLoss);
    CHECK_THAT(journal.status().message(), Catch::Contains(snapshot));
  }
  SECTION("snapshot deleted, so the first records are gone") {
    REQUIRE(fs.remove(dir.file(jf::snapshot_name(5))).is_ok());
    REQUIRE(fs.remove(dir.file(segments[0])).is_ok());
    auto journal = Journal::open(fs, clock, options);
    CHECK(journal.status().code() == StatusCode::kDataLoss);
  }
}

TEST_CASE("a crash before the snapshot rename keeps the previous snapshot", "[journal][recovery]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options_for(dir.path));
    for (uint64_t seq = 1; seq <= 10; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->write_snapshot(10, "state@10").is_ok());
    for (uint64_t seq = 11; seq <= 20; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    fs.fail_rename = true;
    const Status failed = journal->write_snapshot(20, "state@20");
    CHECK_FALSE(failed.is_ok());
    CHECK(journal->health().is_ok());  // segments are untouched; appends go on
    REQUIRE(journal->append(payload_for(21)).is_ok());
    REQUIRE(journal->sync().is_ok());
  }
  // And a temp file a crash left behind, fully written but never renamed.
  write_bytes(dir.file(jf::snapshot_name(21) + ".tmp"), jf::encode_snapshot(21, "state@21"));
  fs.fail_rename = false;
  auto journal = open_ok(fs, clock, options_for(dir.path));
  Recovery recovery = journal->recover();
  REQUIRE(recovery.snapshot);
  CHECK(recovery.snapshot->seq == 10);
  CHECK(recovery.snapshot->payload == "state@10");
  CHECK(seqs_of(recovery.tail) == range(11, 21));
  CHECK(payloads_match(recovery.tail));
  CHECK_THAT(recovery.report.removed_files, Catch::VectorContains(jf::snapshot_name(21) + ".tmp"));
  CHECK_FALSE(fs.exists(dir.file(jf::snapshot_name(21) + ".tmp")));
}

TEST_CASE("a failed directory sync after the rename deletes nothing", "[journal][recovery]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options_for(dir.path));
    for (uint64_t seq = 1; seq <= 10; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    fs.fail_sync_dir = true;
    CHECK_FALSE(journal->write_snapshot(10, "state@10").is_ok());
    fs.fail_sync_dir = false;
  }
  CHECK(fs.exists(dir.file(jf::segment_name(1))));
  // Whichever way the rename went, recovery is consistent: here it reached the disk.
  auto journal = open_ok(fs, clock, options_for(dir.path));
  Recovery recovery = journal->recover();
  REQUIRE(recovery.snapshot);
  CHECK(recovery.snapshot->seq == 10);
  CHECK(recovery.tail.empty());
  CHECK(*journal->append("next") == 11);
}

TEST_CASE("a failed fsync poisons the journal and loses nothing acknowledged",
          "[journal][recovery]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options_for(dir.path));
    for (uint64_t seq = 1; seq <= 10; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->sync().is_ok());
    for (uint64_t seq = 11; seq <= 12; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    fs.fail_sync = true;
    const Status failed = journal->sync();
    REQUIRE_FALSE(failed.is_ok());
    CHECK_THAT(failed.message(), Catch::Contains("fsync"));
    CHECK(journal->synced_seq() == 10);
    CHECK(journal->health().code() == failed.code());
    // Even with a healthy disk again, the journal refuses: it must be reopened.
    fs.fail_sync = false;
    CHECK(journal->append("more").status().message() == failed.message());
    CHECK(journal->sync().message() == failed.message());
    CHECK(journal->write_snapshot(10, "s").message() == failed.message());
  }
  fs.drop_unsynced_data();
  auto journal = open_ok(fs, clock, options_for(dir.path));
  CHECK(seqs_of(journal->recover().tail) == range(1, 10));
}

TEST_CASE("a failed write (disk full) surfaces, and reopen drops the torn part",
          "[journal][recovery]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  {
    auto journal = open_ok(fs, clock, options_for(dir.path));
    for (uint64_t seq = 1; seq <= 10; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    REQUIRE(journal->sync().is_ok());
    for (uint64_t seq = 11; seq <= 20; ++seq) REQUIRE(journal->append(payload_for(seq)).is_ok());
    fs.write_budget = static_cast<int64_t>(offset_of(15) - offset_of(11) + 7);  // mid-record 15
    const Status failed = journal->sync();
    REQUIRE_FALSE(failed.is_ok());
    CHECK_THAT(failed.message(), Catch::Contains("No space left on device"));
    CHECK(journal->synced_seq() == 10);
    CHECK_FALSE(journal->append("more").is_ok());
  }
  fs.write_budget = -1;
  auto journal = open_ok(fs, clock, options_for(dir.path));
  Recovery recovery = journal->recover();
  // The OS kept what was written (no power loss): 11..14 survive, 15's fragment is torn.
  CHECK(seqs_of(recovery.tail) == range(1, 14));
  CHECK(payloads_match(recovery.tail));
  CHECK(recovery.report.torn_bytes_dropped == 7);
}

TEST_CASE("a failed segment creation on open is reported", "[journal][recovery]") {
  JournalTempDir dir;
  FaultFilesystem fs;
  SimulatedClock clock;
  fs.fail_sync_dir = true;
  auto journal = Journal::open(fs, clock, options_for(dir.path));
  REQUIRE_FALSE(journal.is_ok());
  CHECK_THAT(journal.status().message(), Catch::Contains("fsync directory"));
}
