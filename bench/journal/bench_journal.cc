// bench_journal: what the journal's fsync policy buys, and how fast a restart replays.
//
//   append/group-commit   records/s with one fsync per 100 records
//   append/fsync-each     records/s with one fsync per record (the peer; bounded by time)
//   replay                open + recover of 1,000,000 records of 200 bytes (target <= 2 s),
//                         against a raw read of the same files (the peer), both from a cold
//                         page cache (what a restart after a reboot or under memory pressure
//                         sees) and from a warm one
//
// Cold: before each cold run every journal file's pages are dropped from the page cache with
// posix_fadvise(POSIX_FADV_DONTNEED) (the files are synced, so the pages are clean and the kernel
// drops them; no root needed), and the share still resident is measured with mincore() and
// printed, so a kernel that kept the pages cannot pass a warm figure off as a cold one.
// Each figure is the median of 3 runs. Data lives in a temp dir under TMPDIR (about 220 MB),
// removed at the end. Run from a release build: build/bin/bench_journal.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

// Drops the page cache of every file in `dir` (their data is synced: clean pages go at once).
void drop_cache(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + e.path().string());
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// The share of the files' pages that are in the page cache (mincore over a mapping).
double resident_fraction(const std::string& dir) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  uint64_t pages = 0, resident = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + e.path().string());
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size == 0) {
      ::close(fd);
      continue;
    }
    const size_t len = static_cast<size_t>(st.st_size);
    void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) die("mmap " + e.path().string());
    std::vector<unsigned char> vec((len + page - 1) / page);
    if (::mincore(map, len, vec.data()) != 0) die("mincore " + e.path().string());
    for (unsigned char v : vec) resident += v & 1;
    pages += vec.size();
    ::munmap(map, len);
  }
  return pages == 0 ? 0.0 : static_cast<double>(resident) / static_cast<double>(pages);
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
  // One replay (open + recover) and one raw read of the same files; seconds of each.
  uint64_t bytes = 0;
  auto replay_once = [&]() {
    auto start = std::chrono::steady_clock::now();
    JournalOptions options;
    options.dir = replay_dir;
    auto journal = Journal::open(PosixFilesystem::instance(), SystemClock::instance(), options);
    if (!journal) die(journal.status().to_string());
    auto recovery = (*journal)->recover();
    if (recovery.tail.size() != kRecords) die("replay returned the wrong number of records");
    return elapsed_since(start).count();
  };
  auto raw_read_once = [&]() {
    auto start = std::chrono::steady_clock::now();
    bytes = 0;
    auto names = PosixFilesystem::instance().list_dir(replay_dir);
    if (!names) die(names.status().to_string());
    for (const auto& name : *names) {
      auto data = PosixFilesystem::instance().read_file(replay_dir + "/" + name);
      if (!data) die(data.status().to_string());
      bytes += data->size();
    }
    return elapsed_since(start).count();
  };
  std::vector<double> cold_replay, cold_raw, warm_replay, warm_raw, cold_resident;
  for (int run = 0; run < 3; ++run) {
    drop_cache(replay_dir);
    cold_resident.push_back(resident_fraction(replay_dir));
    cold_replay.push_back(replay_once());
    drop_cache(replay_dir);
    cold_raw.push_back(raw_read_once());
    warm_replay.push_back(replay_once());
    warm_raw.push_back(raw_read_once());
  }
  const double resident = *std::max_element(cold_resident.begin(), cold_resident.end());
  const bool cold = resident <= 0.05;
  const double replay_s = median(cold_replay);
  std::printf("replay 1,000,000 x 200 B records (%.0f MB), cold cache (%.1f%% of pages resident "
              "before%s): %.3f s (median of 3), target <= 2 s: %s\n",
              static_cast<double>(bytes) / 1e6, 100.0 * resident,
              cold ? "" : "; the kernel kept them: this figure is WARM", replay_s,
              replay_s <= 2.0 ? "met" : "MISSED");
  std::printf("raw read of the same files, cold cache     : %.3f s (median of 3)\n",
              median(cold_raw));
  std::printf("replay ratio replay/raw-read, cold: %.2fx\n", replay_s / median(cold_raw));
  std::printf("replay, warm cache: %.3f s; raw read, warm: %.3f s; ratio %.2fx (median of 3)\n",
              median(warm_replay), median(warm_raw), median(warm_replay) / median(warm_raw));

  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return 0;
}
