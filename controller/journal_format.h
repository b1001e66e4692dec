// The journal's on-disk encoding (framing, checksums, file names); see journal.h for the format
// description. Pure functions on bytes, no I/O: shared by Journal, its tests and its fuzzer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::controller::journal_format {

inline constexpr uint8_t kEventRecord = 1;
inline constexpr std::string_view kSnapshotMagic = "SLUICESN";
inline constexpr size_t kSnapshotHeaderBytes = 8 + 4 + 8 + 8;

// CRC-32C (Castagnoli); crc32c("123456789") == 0xE3069283. `crc` continues a previous result.
// Uses the SSE4.2 instruction when the CPU has it.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

std::string segment_name(uint64_t first_seq);  // journal-00000000000000000001.log
std::string snapshot_name(uint64_t seq);       // snapshot-00000000000000000042.snap
// The number in a segment/snapshot name; nullopt for any other name.
std::optional<uint64_t> parse_segment_name(std::string_view name);
std::optional<uint64_t> parse_snapshot_name(std::string_view name);

// Appends one framed event record to out.
void encode_record(uint64_t seq, std::string_view payload, std::string& out);

struct ParsedRecord {
  uint64_t seq = 0;
  std::string_view payload;  // points into the parsed data
  size_t size = 0;           // header + payload
};

// Parses the record at data[offset...]. On failure returns nullopt and sets `reason` (e.g.
// "checksum mismatch"). Does not check the sequence number.
std::optional<ParsedRecord> parse_record(std::string_view data, size_t offset, std::string& reason);

// The offset of the first record after `offset` that parses and has a sequence number in
// [min_seq, min_seq + data.size()], or nullopt: tells a torn tail from mid-file corruption.
std::optional<size_t> find_valid_record_after(std::string_view data, size_t offset,
                                              uint64_t min_seq);

std::string encode_snapshot(uint64_t seq, std::string_view payload);
// Checks magic and checksum; sets `reason` on failure.
bool decode_snapshot(std::string_view data, uint64_t& seq, std::string& payload,
                     std::string& reason);

}  // namespace sluice::controller::journal_format
