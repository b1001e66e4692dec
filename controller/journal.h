// The controller's durable event log: append-only segments of checksummed records plus periodic
// snapshots, in one state directory (CONVENTIONS.md, pattern 6). Payloads are opaque bytes; the
// engine decides what they mean (JSON events, JSON state snapshots).
//
// Files in the state dir (other files there are left alone):
//   journal-<first seq, 20 digits>.log   segments; the last one is appended to
//   snapshot-<seq, 20 digits>.snap        the newest snapshot (older ones are deleted)
//   snapshot-<seq>.snap.tmp               a snapshot being written; removed on open
//   id-ceiling                            the reserved id ceiling (reserve_ids), decimal text
//   id-ceiling.tmp                        a reservation being written; removed on open
//
// Record framing (little-endian), one after another, no padding:
//   [u32 crc32c][u32 payload length][u64 sequence number][u8 type][payload]
// The CRC-32C (Castagnoli) covers every byte after itself: length, sequence, type and payload.
// Sequence numbers start at 1 and increase by one per record across segments; a segment's name
// is the sequence number of its first record. Type 1 is an event; other values are reserved.
//
// Snapshot file: ["SLUICESN"][u32 crc32c][u64 seq][u64 payload length][payload]; the CRC covers
// seq, length and payload. A snapshot at seq S holds the owner's state after applying records
// 1..S; recovery returns it plus every record after S.
//
// Durability (the fsync policy). append() only buffers. Records are durable once a sync()
// returned OK; sync() writes the buffer and fdatasyncs the segment (a new segment's directory
// entry is fsynced when the segment is created, before any record goes into it). Group commit: many
// appends share one fsync. The controller MUST call sync() before any externally visible action
// (scaling, traffic weights, API answers that report a state change), so nothing the outside world
// saw can be forgotten. On top of that, JournalOptions can make appends sync by themselves every N
// records and/or when the oldest unsynced record is older than a duration (checked on append() and
// maybe_sync(); call maybe_sync() from a timer so an idle journal still syncs). Destroying a
// Journal does not sync: unsynced records may be lost, as in a crash.
//
// Failures. The first failed write or fsync poisons the journal: every later append/sync returns
// that error (after a failed fsync the kernel may have dropped the dirty pages, so retrying
// could report success for data that is gone). The owner must stop and reopen, which recovers
// exactly what is on disk. A failed write_snapshot() deletes nothing and leaves a valid snapshot
// (the previous one, or the new one if its rename reached the disk); it poisons the journal only
// when its sync or the start of the next segment fails.
//
// Recovery (open). A bad record (short header, length past the end, checksum mismatch, unknown
// type, unexpected sequence number) at the end of the last segment with no valid record after
// it is a torn tail from a crash mid-append: it is cut off, synced, and reported in
// RecoveryReport. A bad record with valid records after it, or in any but the last segment, is
// corruption: open() fails with kDataLoss naming the file, the byte offset, and the command that
// cuts the journal there (`sluice journal repair`, implemented by Journal::truncate_at).
// Caveat: data appended after the last successful sync() may reach disk in any page order, so a
// crash during a large unsynced group can in rare cases look like mid-journal corruption; the
// repair command then drops only unacknowledged records.
//
// Locking: Journal does not lock the directory. The process owning the state dir holds its
// StateDirLock (base/state_dir_lock.h) for as long as a Journal is open, and so must the repair
// command.
//
// Threads: a Journal is not thread-safe; one thread (the controller strand, or the pool job it
// hands the journal to) owns it. sync() and write_snapshot() block on fsync.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/status.h"

namespace sluice::controller {

inline constexpr size_t kJournalRecordHeaderBytes = 17;
inline constexpr size_t kJournalMaxPayloadBytes = 64u << 20;

struct JournalOptions {
  std::string dir;  // the journal's directory; created when missing
  // The directory `sluice journal repair --state-dir` must be given for this journal (the one
  // whose `lock` the owner holds, with the journal in its `journal/` subdirectory), named in
  // corruption errors. Empty: `dir` itself.
  std::string repair_state_dir;
  // Group commit: append() syncs by itself once this many records are unsynced (0 = never).
  uint64_t sync_every_records = 0;
  // ... or once the oldest unsynced record is at least this old (0 = never).
  Duration sync_every{0};
  // Buffered appends are written to the OS (not yet durable) once they reach this many bytes.
  size_t write_buffer_bytes = 256u << 10;
  // A new segment starts (after syncing the current one) once the current one reaches this size.
  uint64_t max_segment_bytes = 64u << 20;
  // snapshot_due() turns true this many records after the last snapshot (0 = never).
  uint64_t snapshot_every_records = 10'000;
};

struct JournalRecord {
  uint64_t seq = 0;
  std::string payload;
};

struct JournalSnapshot {
  uint64_t seq = 0;  // the last record the snapshot covers
  std::string payload;
};

struct RecoveryReport {
  uint64_t torn_bytes_dropped = 0;         // cut from the end of the last segment
  std::string torn_segment;                // its file name, when torn_bytes_dropped > 0
  uint64_t torn_offset = 0;                // the segment's length after the cut
  std::string torn_reason;                 // what was wrong at torn_offset
  std::vector<std::string> removed_files;  // stale segments, old snapshots, temp files
};

struct Recovery {
  std::optional<JournalSnapshot> snapshot;
  std::vector<JournalRecord> tail;  // every record after the snapshot (or all), in seq order
  RecoveryReport report;
};

struct RepairReport {
  uint64_t bytes_dropped = 0;                 // cut from the named segment
  std::vector<std::string> removed_segments;  // later segments, now unreachable
};

class Journal {
 public:
  // Recovers the state dir (see "Recovery" above) and opens the last segment for appending.
  // `fs` and `clock` must outlive the Journal. Errors: kDataLoss for corruption, I/O errors.
  static Result<std::unique_ptr<Journal>> open(Filesystem& fs, const Clock& clock,
                                               JournalOptions options);

  // Cuts segment `segment` (a file name in `dir`) at byte `offset` and removes every later
  // segment, then syncs: the repair that a kDataLoss from open() names. Everything from that
  // offset on is lost; the caller holds the StateDirLock and no Journal is open on `dir`.
  static Result<RepairReport> truncate_at(Filesystem& fs, const std::string& dir,
                                          const std::string& segment, uint64_t offset);

  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // What open() found: the newest snapshot and every record after it. Moves the data out; a
  // second call returns an empty Recovery (the report is kept by report()).
  Recovery recover();
  const RecoveryReport& report() const { return report_; }

  // Buffers one record and returns its sequence number. Not durable until sync() (see policy).
  // kInvalidArgument for a payload over kJournalMaxPayloadBytes; the poisoning error otherwise.
  Result<uint64_t> append(std::string_view payload);
  // Makes every appended record durable. Cheap when nothing is pending.
  Status sync();
  // Syncs when the time-based policy (JournalOptions::sync_every) says it is due.
  Status maybe_sync();

  // Durably stores the owner's state after record `seq` (<= last_seq(), >= the previous
  // snapshot): syncs the journal, writes a temp file, fsyncs it, renames it into place, fsyncs
  // the directory, then starts a new segment and deletes segments and snapshots it covers.
  Status write_snapshot(uint64_t seq, std::string_view payload);
  bool snapshot_due() const;

  // Numbers the owner hands out that must stay unique even when records are lost (a repair cuts
  // records clients already saw; a torn tail drops records whose events were already streamed):
  // event ids. id_ceiling() is the durable ceiling read by open() (0 when never reserved): every
  // id handed out so far is below it. reserve_ids(c) durably raises it to c (temp file, fsync,
  // rename, fsync of the directory) before returning, so the owner reserves in blocks and starts
  // after a restart at max(recovered next id, id_ceiling()). truncate_at() leaves it alone.
  uint64_t id_ceiling() const { return id_ceiling_; }
  Status reserve_ids(uint64_t ceiling);

  // Drops the records after `seq` from the last segment and syncs the cut, so they can be
  // written again: the recovery of a journal whose fsync failed (controller/journal_sink.h).
  // Records in earlier segments, or covered by the snapshot, are kept (they were synced before
  // the segment ended or the snapshot was taken), so last_seq() may stay above `seq`. Call it
  // right after open(), before anything is appended (kFailedPrecondition otherwise).
  Status truncate_after(uint64_t seq);

  const std::string& directory() const { return options_.dir; }
  uint64_t last_seq() const { return next_seq_ - 1; }  // last appended (maybe not durable)
  uint64_t synced_seq() const { return synced_seq_; }  // last known durable
  uint64_t snapshot_seq() const { return snapshot_seq_; }
  // OK, or the first I/O error, after which the journal refuses all writes.
  const Status& health() const { return health_; }

 private:
  Journal(Filesystem& fs, const Clock& clock, JournalOptions options);
  Status recover_from_disk();
  Status open_segment(uint64_t first_seq, bool created);
  Status flush_buffer();
  Status roll_segment();
  Status poison(Status status);
  std::string path(const std::string& name) const;
  const std::string& repair_dir() const {
    return options_.repair_state_dir.empty() ? options_.dir : options_.repair_state_dir;
  }

  Filesystem& fs_;
  const Clock& clock_;
  JournalOptions options_;

  Recovery recovered_;
  RecoveryReport report_;

  std::vector<uint64_t> segments_;  // first seqs of the segments on disk, ascending
  std::unique_ptr<WritableFile> file_;
  uint64_t segment_bytes_ = 0;  // bytes of the current segment handed to the OS
  std::string buffer_;
  uint64_t next_seq_ = 1;
  uint64_t synced_seq_ = 0;
  uint64_t snapshot_seq_ = 0;
  uint64_t id_ceiling_ = 0;
  uint64_t unsynced_records_ = 0;
  TimePoint oldest_unsynced_at_{};
  Status health_;
};

}  // namespace sluice::controller
