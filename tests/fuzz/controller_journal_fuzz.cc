// Random bytes as a journal segment (or, with a leading 'S', as a snapshot file) fed to
// recovery. Recovery must never crash, and when it accepts the directory, the journal must keep
// working: one more record appended and synced is found after the next open.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/clock.h"
#include "base/filesystem.h"
#include "controller/journal.h"
#include "controller/journal_format.h"

namespace {

using sluice::PosixFilesystem;
using sluice::SimulatedClock;
using sluice::controller::Journal;
using sluice::controller::JournalOptions;
namespace jf = sluice::controller::journal_format;

// Leaked on purpose: the atexit cleanup runs after static destructors would have run.
const std::string& fuzz_dir() {
  static const std::string* const dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "journal-fuzz-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(fuzz_dir(), ec);
    });
    return new std::string(tmpl);
  }();
  return *dir;
}

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = fuzz_dir();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::filesystem::remove(entry.path(), ec);
  }
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string name = jf::segment_name(1);
  if (!bytes.empty() && bytes[0] == 'S') {
    bytes.erase(0, 1);
    name = jf::snapshot_name(7);
  }
  {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  SimulatedClock clock;
  JournalOptions options;
  options.dir = dir;
  uint64_t last = 0;
  size_t tail = 0;
  {
    auto journal = Journal::open(PosixFilesystem::instance(), clock, options);
    if (!journal.is_ok()) return 0;  // refusing is fine; crashing is not
    auto recovery = (*journal)->recover();
    tail = recovery.tail.size();
    last = (*journal)->last_seq();
    auto seq = (*journal)->append("fuzz");
    check(seq.is_ok() && *seq == last + 1);
    check((*journal)->sync().is_ok());
  }
  auto reopened = Journal::open(PosixFilesystem::instance(), clock, options);
  check(reopened.is_ok());
  auto recovery = (*reopened)->recover();
  check(recovery.tail.size() == tail + 1);
  check(recovery.tail.back().seq == last + 1 && recovery.tail.back().payload == "fuzz");
  return 0;
}
