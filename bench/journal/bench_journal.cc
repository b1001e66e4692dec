// bench_journal: what the journal's fsync policy buys, and how fast a restart replays.
//
//   append/group-commit   records/s with one fsync per 100 records
//   append/fsync-each     records/s with one fsync per record (the peer; bounded by time)
//   replay                open + recover of 1,000,000 records of 200 bytes (target <= 2 s),
//                         against a raw read of the same files (the peer)
//
// Each figure is the median of 3 runs. Data lives in a temp dir under TMPDIR (about 220 MB),
// removed at the end. Run from a release build: build/bin/bench_journal.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/filesystem.h"
#include "controller/journal.h"

using sluice::PosixFilesystem;
using sluice::SystemClock;
using sluice::controller::Journal;
using sluice::controller::JournalOptions;

namespace {

using Seconds = std::chrono::duration<double>;
Seconds elapsed_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::steady_clock::now() - start;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_journal: %s\n", what.c_str());
  std::exit(1);
}

std::string payload(uint64_t seq) {
  std::string out =
      "{\"type\":\"StepCompleted\",\"rollout\":\"orders\",\"seq\":" + std::to_string(seq) +
      ",\"pad\":\"";
  out.resize(200 - 2, 'x');
  out += "\"}";
  return out;
}

std::string fresh_dir(const std::string& root, const std::string& name) {
  const std::string dir = root + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

// Appends until `max_records` or `max_time`, then syncs; returns records per second.
double append_rate(const std::string& dir, uint64_t sync_every, uint64_t max_records,
                   Seconds max_time) {
  JournalOptions options;
  options.dir = dir;
  options.sync_every_records = sync_every;
  options.snapshot_every_records = 0;
  auto journal = Journal::open(PosixFilesystem::instance(), SystemClock::instance(), options);
  if (!journal) die(journal.status().to_string());
  const auto start = std::chrono::steady_clock::now();
  uint64_t appended = 0;
  while (appended < max_records && (appended % 64 != 0 || elapsed_since(start) < max_time)) {
    auto seq = (*journal)->append(payload(appended + 1));
    if (!seq) die(seq.status().to_string());
    ++appended;
  }
  if (auto s = (*journal)->sync(); !s) die(s.to_string());
  return static_cast<double>(appended) / elapsed_since(start).count();
}

}  // namespace

int main() {
  std::string root = (std::filesystem::temp_directory_path() / "bench-journal-XXXXXX").string();
  if (::mkdtemp(root.data()) == nullptr) die("mkdtemp failed");

  std::vector<double> group, each;
  for (int run = 0; run < 3; ++run) {
    group.push_back(append_rate(fresh_dir(root, "group"), 100, 50'000, Seconds(5)));
    each.push_back(append_rate(fresh_dir(root, "each"), 1, 2'000, Seconds(2)));
  }
  std::printf("append/group-commit (fsync per 100): %.0f records/s (median of 3)\n", median(group));
  std::printf("append/fsync-each                  : %.0f records/s (median of 3)\n", median(each));
  std::printf("append ratio group-commit/fsync-each: %.1fx\n", median(group) / median(each));

  // Replay: write 1M records once, then time open+recover three times.
  const uint64_t kRecords = 1'000'000;
  const std::string replay_dir = fresh_dir(root, "replay");
  {
    JournalOptions options;
    options.dir = replay_dir;
    options.sync_every_records = 10'000;
    options.snapshot_every_records = 0;
    auto journal = Journal::open(PosixFilesystem::instance(), SystemClock::instance(), options);
    if (!journal) die(journal.status().to_string());
    for (uint64_t seq = 1; seq <= kRecords; ++seq) {
      if (auto s = (*journal)->append(payload(seq)); !s) die(s.status().to_string());
    }
    if (auto s = (*journal)->sync(); !s) die(s.to_string());
  }
  std::vector<double> replay, raw;
  uint64_t bytes = 0;
  for (int run = 0; run < 3; ++run) {
    auto start = std::chrono::steady_clock::now();
    JournalOptions options;
    options.dir = replay_dir;
    auto journal = Journal::open(PosixFilesystem::instance(), SystemClock::instance(), options);
    if (!journal) die(journal.status().to_string());
    auto recovery = (*journal)->recover();
    if (recovery.tail.size() != kRecords) die("replay returned the wrong number of records");
    replay.push_back(elapsed_since(start).count());

    start = std::chrono::steady_clock::now();
    bytes = 0;
    auto names = PosixFilesystem::instance().list_dir(replay_dir);
    if (!names) die(names.status().to_string());
    for (const auto& name : *names) {
      auto data = PosixFilesystem::instance().read_file(replay_dir + "/" + name);
      if (!data) die(data.status().to_string());
      bytes += data->size();
    }
    raw.push_back(elapsed_since(start).count());
  }
  const double replay_s = median(replay);
  std::printf(
      "replay 1,000,000 x 200 B records (%.0f MB): %.3f s (median of 3), target <= 2 s: %s\n",
      static_cast<double>(bytes) / 1e6, replay_s, replay_s <= 2.0 ? "met" : "MISSED");
  std::printf("raw read of the same files              : %.3f s (median of 3)\n", median(raw));
  std::printf("replay ratio replay/raw-read: %.2fx\n", replay_s / median(raw));

  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return 0;
}
