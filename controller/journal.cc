#include "controller/journal.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "controller/journal_format.h"

namespace sluice::controller {

namespace jf = journal_format;

namespace {

std::string repair_command(const std::string& dir, const std::string& segment, uint64_t offset) {
  return fmt::format("sluice journal repair --state-dir {} --segment {} --truncate-at {}", dir,
                     segment, offset);
}

bool is_snapshot_temp(std::string_view name) {
  return name.starts_with("snapshot-") && name.ends_with(".tmp");
}

constexpr const char* kIdCeilingFile = "id-ceiling";
constexpr const char* kIdCeilingTemp = "id-ceiling.tmp";

Status write_file_durably(Filesystem& fs, const std::string& path, std::string_view data) {
  auto file = fs.open_writable(path, OpenMode::kTruncate);
  if (!file) return file.status();
  if (Status s = (*file)->append(data); !s) return s;
  if (Status s = (*file)->sync(); !s) return s;
  return (*file)->close();
}

// Stale files are garbage either way: failing to remove one loses nothing, and the next open()
// tries again.
bool remove_stale(Filesystem& fs, const std::string& path) { return fs.remove(path).is_ok(); }

}  // namespace

Journal::Journal(Filesystem& fs, const Clock& clock, JournalOptions options)
    : fs_(fs), clock_(clock), options_(std::move(options)) {}

// Deliberately no sync: the destructor cannot report an error, and unsynced records carry no
// promise (see journal.h).
Journal::~Journal() = default;

Result<std::unique_ptr<Journal>> Journal::open(Filesystem& fs, const Clock& clock,
                                               JournalOptions options) {
  if (options.dir.empty()) return invalid_argument("journal: no state dir given");
  std::unique_ptr<Journal> journal(new Journal(fs, clock, std::move(options)));
  if (Status s = journal->recover_from_disk(); !s) return s;
  return journal;
}

std::string Journal::path(const std::string& name) const { return join_path(options_.dir, name); }

Status Journal::recover_from_disk() {
  const std::string& dir = options_.dir;
  if (Status s = fs_.mkdirs(dir); !s) return s;
  auto names = fs_.list_dir(dir);
  if (!names) return names.status();
  std::vector<uint64_t> snapshots;
  std::vector<uint64_t> segments;
  std::vector<std::string> stale;
  for (const auto& name : *names) {
    if (auto first = jf::parse_segment_name(name)) {
      segments.push_back(*first);
    } else if (auto seq = jf::parse_snapshot_name(name)) {
      snapshots.push_back(*seq);
    } else if (is_snapshot_temp(name) || name == kIdCeilingTemp) {
      stale.push_back(name);  // a crash before its rename: the previous file still stands
    } else if (name == kIdCeilingFile) {
      auto data = fs_.read_file(path(name));
      if (!data) return data.status();
      const char* end = data->data() + data->size();
      auto [ptr, ec] = std::from_chars(data->data(), end, id_ceiling_);
      if (ec != std::errc() || ptr == data->data()) {
        return data_loss(
            fmt::format("journal: {} does not hold a number", path(kIdCeilingFile)));
      }
    }
  }
  std::sort(snapshots.begin(), snapshots.end());
  std::sort(segments.begin(), segments.end());

  uint64_t snapshot_seq = 0;
  if (!snapshots.empty()) {
    const std::string name = jf::snapshot_name(snapshots.back());
    auto data = fs_.read_file(path(name));
    if (!data) return data.status();
    JournalSnapshot snapshot;
    std::string reason;
    if (jf::decode_snapshot(*data, snapshot.seq, snapshot.payload, reason) &&
        snapshot.seq != snapshots.back()) {
      reason = fmt::format("it holds record {}, not the one its name says", snapshot.seq);
    }
    if (!reason.empty()) {
      return data_loss(fmt::format(
          "snapshot {} is corrupt ({}). Snapshots are fsynced before they are renamed into "
          "place, so the file or the disk was damaged; restore the state dir from a backup",
          path(name), reason));
    }
    snapshot_seq = snapshot.seq;
    recovered_.snapshot = std::move(snapshot);
    for (size_t i = 0; i + 1 < snapshots.size(); ++i) {
      stale.push_back(jf::snapshot_name(snapshots[i]));
    }
  }

  // A segment is covered when the next one starts at or before the record after the snapshot.
  size_t covered = 0;
  while (covered + 1 < segments.size() && segments[covered + 1] <= snapshot_seq + 1) {
    stale.push_back(jf::segment_name(segments[covered]));
    ++covered;
  }
  segments.erase(segments.begin(), segments.begin() + static_cast<ptrdiff_t>(covered));
  if (!segments.empty() && segments.front() > snapshot_seq + 1) {
    return data_loss(fmt::format(
        "journal in {} is missing records {}..{}: the oldest segment {} starts at record {} and "
        "{}; restore the state dir from a backup",
        dir, snapshot_seq + 1, segments.front() - 1, jf::segment_name(segments.front()),
        segments.front(),
        recovered_.snapshot ? fmt::format("the snapshot ends at record {}", snapshot_seq)
                            : std::string("there is no snapshot")));
  }

  uint64_t expected = segments.empty() ? snapshot_seq + 1 : segments.front();
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string name = jf::segment_name(segments[i]);
    const bool last = i + 1 == segments.size();
    if (segments[i] != expected) {
      return data_loss(fmt::format(
          "journal segment {} starts at record {}, but the segment before it ends at record {}; "
          "records are missing. Restore the state dir from a backup, or cut the journal before "
          "the gap with: {}",
          path(name), segments[i], expected - 1, repair_command(repair_dir(), name, 0)));
    }
    auto data = fs_.read_file(path(name));
    if (!data) return data.status();
    size_t offset = 0;
    std::string reason;
    while (offset < data->size()) {
      auto record = jf::parse_record(*data, offset, reason);
      if (record && record->seq != expected) {
        reason = fmt::format("sequence number {} where {} was expected", record->seq, expected);
        record.reset();
      }
      if (!record) break;
      if (record->seq > snapshot_seq) {
        recovered_.tail.push_back({record->seq, std::string(record->payload)});
      }
      ++expected;
      offset += record->size;
    }
    if (offset < data->size()) {
      // Only the end of the last segment can be torn: a segment is synced before the next one
      // is created.
      if (!last || jf::find_valid_record_after(*data, offset, expected)) {
        return data_loss(fmt::format(
            "journal segment {} is corrupt at byte offset {} ({}) and valid records follow; "
            "refusing to start rather than silently drop them. To discard the journal from that "
            "record on, run: {}",
            path(name), offset, reason, repair_command(repair_dir(), name, offset)));
      }
      if (Status s = fs_.truncate(path(name), offset); !s) return s;
      if (Status s = fs_.sync_file(path(name)); !s) return s;
      report_.torn_bytes_dropped = data->size() - offset;
      report_.torn_segment = name;
      report_.torn_offset = offset;
      report_.torn_reason = reason;
    }
    if (last) segment_bytes_ = offset;
  }
  if (expected <= snapshot_seq) {
    // Every record on disk is covered by the snapshot; continue in a fresh segment after it.
    for (uint64_t first : segments) stale.push_back(jf::segment_name(first));
    segments.clear();
    expected = snapshot_seq + 1;
  }

  for (const auto& name : stale) {
    if (remove_stale(fs_, path(name))) report_.removed_files.push_back(name);
  }
  if (!stale.empty()) (void)fs_.sync_dir(dir);  // tidiness only; see remove_stale()

  snapshot_seq_ = snapshot_seq;
  next_seq_ = expected;
  synced_seq_ = expected - 1;
  recovered_.report = report_;
  if (segments.empty()) return open_segment(next_seq_, /*created=*/true);
  segments_ = std::move(segments);
  return open_segment(segments_.back(), /*created=*/false);
}

Status Journal::open_segment(uint64_t first_seq, bool created) {
  auto file = fs_.open_writable(path(jf::segment_name(first_seq)), OpenMode::kAppend);
  if (!file) return poison(file.status());
  if (created) {
    // The new name must be durable before any record in it is reported durable.
    if (Status s = fs_.sync_dir(options_.dir); !s) return poison(s);
    segments_.push_back(first_seq);
    segment_bytes_ = 0;
  }
  file_ = std::move(*file);
  return Status::ok();
}

Recovery Journal::recover() {
  Recovery out = std::move(recovered_);
  recovered_ = Recovery{};
  recovered_.report = report_;
  return out;
}

Result<uint64_t> Journal::append(std::string_view payload) {
  if (!health_) return health_;
  if (payload.size() > kJournalMaxPayloadBytes) {
    return invalid_argument(fmt::format("journal record of {} bytes is over the limit of {}",
                                        payload.size(), kJournalMaxPayloadBytes));
  }
  const uint64_t segment_size = segment_bytes_ + buffer_.size();
  if (segment_size > 0 && segment_size >= options_.max_segment_bytes) {
    if (Status s = roll_segment(); !s) return s;
  }
  const uint64_t seq = next_seq_++;
  jf::encode_record(seq, payload, buffer_);
  if (unsynced_records_++ == 0 && options_.sync_every.count() > 0) {
    oldest_unsynced_at_ = clock_.now();
  }
  const bool count_due =
      options_.sync_every_records > 0 && unsynced_records_ >= options_.sync_every_records;
  const bool time_due =
      options_.sync_every.count() > 0 && clock_.now() - oldest_unsynced_at_ >= options_.sync_every;
  if (count_due || time_due) {
    if (Status s = sync(); !s) return s;
  } else if (buffer_.size() >= options_.write_buffer_bytes) {
    if (Status s = flush_buffer(); !s) return s;
  }
  return seq;
}

Status Journal::flush_buffer() {
  if (buffer_.empty()) return Status::ok();
  // On failure a prefix may be in the file: a torn tail that the next open() cuts off.
  if (Status s = file_->append(buffer_); !s) return poison(s);
  segment_bytes_ += buffer_.size();
  buffer_.clear();
  return Status::ok();
}

Status Journal::sync() {
  if (!health_) return health_;
  if (unsynced_records_ == 0) return Status::ok();
  if (Status s = flush_buffer(); !s) return s;
  if (Status s = file_->sync(); !s) return poison(s);
  synced_seq_ = next_seq_ - 1;
  unsynced_records_ = 0;
  return Status::ok();
}

Status Journal::maybe_sync() {
  if (!health_) return health_;
  if (options_.sync_every.count() > 0 && unsynced_records_ > 0 &&
      clock_.now() - oldest_unsynced_at_ >= options_.sync_every) {
    return sync();
  }
  return Status::ok();
}

Status Journal::roll_segment() {
  if (Status s = sync(); !s) return s;
  if (Status s = file_->close(); !s) return poison(s);
  return open_segment(next_seq_, /*created=*/true);
}

Status Journal::poison(Status status) {
  if (health_.is_ok()) health_ = status;
  return status;
}

Status Journal::write_snapshot(uint64_t seq, std::string_view payload) {
  if (!health_) return health_;
  if (seq > last_seq() || seq < snapshot_seq_) {
    return invalid_argument(
        fmt::format("snapshot at record {} is outside [{}, {}]", seq, snapshot_seq_, last_seq()));
  }
  // The records the snapshot claims to cover must be durable before it is.
  if (Status s = sync(); !s) return s;
  const std::string name = jf::snapshot_name(seq);
  const std::string temp = path(name + ".tmp");
  // Until the rename, a failure leaves the previous snapshot and every segment as they were.
  if (Status s = write_file_durably(fs_, temp, jf::encode_snapshot(seq, payload)); !s) {
    (void)fs_.remove(temp);
    return s;
  }
  if (Status s = fs_.rename(temp, path(name)); !s) {
    (void)fs_.remove(temp);
    return s;
  }
  // Nothing may be deleted until the rename is durable.
  if (Status s = fs_.sync_dir(options_.dir); !s) return s;

  const uint64_t previous_snapshot = snapshot_seq_;
  snapshot_seq_ = seq;
  if (segment_bytes_ > 0) {
    if (Status s = roll_segment(); !s) return s;
  }
  std::vector<uint64_t> kept;
  for (size_t i = 0; i < segments_.size(); ++i) {
    if (i + 1 < segments_.size() && segments_[i + 1] <= seq + 1) {
      remove_stale(fs_, path(jf::segment_name(segments_[i])));
    } else {
      kept.push_back(segments_[i]);
    }
  }
  segments_ = std::move(kept);
  if (previous_snapshot != seq) remove_stale(fs_, path(jf::snapshot_name(previous_snapshot)));
  return Status::ok();
}

Status Journal::reserve_ids(uint64_t ceiling) {
  if (ceiling <= id_ceiling_) return Status::ok();
  const std::string temp = path(kIdCeilingTemp);
  if (Status s = write_file_durably(fs_, temp, fmt::format("{}\n", ceiling)); !s) {
    (void)fs_.remove(temp);
    return s;
  }
  if (Status s = fs_.rename(temp, path(kIdCeilingFile)); !s) {
    (void)fs_.remove(temp);
    return s;
  }
  if (Status s = fs_.sync_dir(options_.dir); !s) return s;
  id_ceiling_ = ceiling;
  return Status::ok();
}

Status Journal::truncate_after(uint64_t seq) {
  if (!health_) return health_;
  if (unsynced_records_ > 0 || !buffer_.empty()) {
    return failed_precondition("journal: truncate_after() with records appended since open()");
  }
  const uint64_t first = segments_.empty() ? next_seq_ : segments_.back();
  seq = std::max({seq, first - 1, snapshot_seq_});
  if (seq >= last_seq()) return Status::ok();
  const std::string name = jf::segment_name(first);
  auto data = fs_.read_file(path(name));
  if (!data) return data.status();
  size_t offset = 0;
  std::string reason;
  for (uint64_t expected = first; expected <= seq; ++expected) {
    auto record = jf::parse_record(*data, offset, reason);
    if (!record || record->seq != expected) {
      return data_loss(fmt::format("journal segment {} has no record {} at byte offset {}",
                                   path(name), expected, offset));
    }
    offset += record->size;
  }
  // The file is open for appending (O_APPEND): the next write goes to the new end.
  if (Status s = fs_.truncate(path(name), offset); !s) return poison(s);
  if (Status s = fs_.sync_file(path(name)); !s) return poison(s);
  segment_bytes_ = offset;
  next_seq_ = seq + 1;
  synced_seq_ = seq;
  return Status::ok();
}

bool Journal::snapshot_due() const {
  return options_.snapshot_every_records > 0 &&
         last_seq() - snapshot_seq_ >= options_.snapshot_every_records;
}

Result<RepairReport> Journal::truncate_at(Filesystem& fs, const std::string& dir,
                                          const std::string& segment, uint64_t offset) {
  const auto first = jf::parse_segment_name(segment);
  if (!first) {
    return invalid_argument(
        fmt::format("{} is not a journal segment name (journal-<20 digits>.log)", segment));
  }
  const std::string target = join_path(dir, segment);
  auto size = fs.file_size(target);
  if (!size) return size.status();
  if (offset > *size) {
    return invalid_argument(
        fmt::format("offset {} is past the end of {} ({} bytes)", offset, target, *size));
  }
  RepairReport report;
  report.bytes_dropped = *size - offset;
  if (Status s = fs.truncate(target, offset); !s) return s;
  if (Status s = fs.sync_file(target); !s) return s;
  auto names = fs.list_dir(dir);
  if (!names) return names.status();
  for (const auto& name : *names) {
    const auto seq = jf::parse_segment_name(name);
    if (!seq || *seq <= *first) continue;
    if (Status s = fs.remove(join_path(dir, name)); !s) return s;
    report.removed_segments.push_back(name);
  }
  if (Status s = fs.sync_dir(dir); !s) return s;
  return report;
}

}  // namespace sluice::controller
