// Helpers shared by the journal tests.
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/filesystem.h"
#include "controller/journal.h"

namespace sluice::journal_testing {

// A fresh directory under TMPDIR, removed with its contents at scope exit.
struct JournalTempDir {
  JournalTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-journal-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~JournalTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return join_path(path, name); }
  std::string path;
};

// Deterministic payloads of varying length, so a record can be checked by its sequence number.
inline std::string payload_for(uint64_t seq) {
  std::string out = "{\"event\":" + std::to_string(seq) + ",\"pad\":\"";
  out.append(seq % 37, static_cast<char>('a' + seq % 26));
  out += "\"}";
  return out;
}

inline controller::JournalOptions options_for(const std::string& dir) {
  controller::JournalOptions options;
  options.dir = dir;
  return options;
}

inline std::unique_ptr<controller::Journal> open_ok(Filesystem& fs, const Clock& clock,
                                                    controller::JournalOptions options) {
  auto journal = controller::Journal::open(fs, clock, std::move(options));
  INFO(journal.status().to_string());
  REQUIRE(journal.is_ok());
  return std::move(*journal);
}

inline std::vector<uint64_t> seqs_of(const std::vector<controller::JournalRecord>& records) {
  std::vector<uint64_t> out;
  for (const auto& r : records) out.push_back(r.seq);
  return out;
}

inline std::vector<uint64_t> range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

// True when every record's payload is payload_for(its seq).
inline bool payloads_match(const std::vector<controller::JournalRecord>& records) {
  for (const auto& r : records) {
    if (r.payload != payload_for(r.seq)) return false;
  }
  return true;
}

}  // namespace sluice::journal_testing
