#include "controller/journal_format.h"

#include <array>
#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "controller/journal.h"

namespace sluice::controller::journal_format {

static_assert(std::endian::native == std::endian::little,
              "the journal framing is little-endian and read with memcpy");

namespace {

constexpr uint32_t kCastagnoliReversed = 0x82F63B78u;

// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;
constexpr CrcTables make_tables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCastagnoliReversed : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (size_t k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
}
constexpr CrcTables kTables = make_tables();

uint32_t crc_software(const unsigned char* p, size_t n, uint32_t crc) {
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    w ^= crc;
    crc = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
          kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^
          kTables[2][(w >> 40) & 0xff] ^ kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = kTables[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc_sse42(const unsigned char* p, size_t n,
                                                     uint32_t crc) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
#endif

uint32_t load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void store32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void store64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

std::optional<uint64_t> parse_numbered(std::string_view name, std::string_view prefix,
                                       std::string_view suffix) {
  if (name.size() != prefix.size() + 20 + suffix.size()) return std::nullopt;
  if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
  if (name.substr(prefix.size() + 20) != suffix) return std::nullopt;
  uint64_t value = 0;
  for (char c : name.substr(prefix.size(), 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
#if defined(__x86_64__)
  static const bool has_sse42 = __builtin_cpu_supports("sse4.2");
  if (has_sse42) return ~crc_sse42(p, data.size(), ~crc);
#endif
  return ~crc_software(p, data.size(), ~crc);
}

std::string segment_name(uint64_t first_seq) {
  return fmt::format("journal-{:020}.log", first_seq);
}
std::string snapshot_name(uint64_t seq) { return fmt::format("snapshot-{:020}.snap", seq); }
std::optional<uint64_t> parse_segment_name(std::string_view name) {
  return parse_numbered(name, "journal-", ".log");
}
std::optional<uint64_t> parse_snapshot_name(std::string_view name) {
  return parse_numbered(name, "snapshot-", ".snap");
}

void encode_record(uint64_t seq, std::string_view payload, std::string& out) {
  const size_t start = out.size();
  store32(out, 0);  // crc, filled in below
  store32(out, static_cast<uint32_t>(payload.size()));
  store64(out, seq);
  out.push_back(static_cast<char>(kEventRecord));
  out.append(payload);
  const uint32_t crc = crc32c(std::string_view(out).substr(start + 4));
  std::memcpy(out.data() + start, &crc, 4);
}

std::optional<ParsedRecord> parse_record(std::string_view data, size_t offset,
                                         std::string& reason) {
  const size_t remaining = data.size() - offset;
  if (remaining < kJournalRecordHeaderBytes) {
    reason = fmt::format("incomplete record header ({} of {} bytes)", remaining,
                         kJournalRecordHeaderBytes);
    return std::nullopt;
  }
  const char* p = data.data() + offset;
  const uint32_t length = load32(p + 4);
  if (length > kJournalMaxPayloadBytes) {
    reason = fmt::format("implausible record length {}", length);
    return std::nullopt;
  }
  if (length > remaining - kJournalRecordHeaderBytes) {
    reason = fmt::format("incomplete record (length {} runs past the end of the file)", length);
    return std::nullopt;
  }
  if (crc32c(data.substr(offset + 4, kJournalRecordHeaderBytes - 4 + length)) != load32(p)) {
    reason = "checksum mismatch";
    return std::nullopt;
  }
  const auto type = static_cast<uint8_t>(p[16]);
  if (type != kEventRecord) {
    reason = fmt::format("unknown record type {}", type);
    return std::nullopt;
  }
  return ParsedRecord{load64(p + 8), data.substr(offset + kJournalRecordHeaderBytes, length),
                      kJournalRecordHeaderBytes + length};
}

std::optional<size_t> find_valid_record_after(std::string_view data, size_t offset,
                                              uint64_t min_seq) {
  // Cheap field checks reject almost every offset before the checksum is computed.
  const uint64_t max_seq = min_seq > UINT64_MAX - data.size() ? UINT64_MAX : min_seq + data.size();
  std::string reason;
  for (size_t at = offset + 1; at + kJournalRecordHeaderBytes <= data.size(); ++at) {
    const char* p = data.data() + at;
    if (static_cast<uint8_t>(p[16]) != kEventRecord) continue;
    const uint64_t seq = load64(p + 8);
    if (seq < min_seq || seq > max_seq) continue;
    if (load32(p + 4) > data.size() - at - kJournalRecordHeaderBytes) continue;
    if (parse_record(data, at, reason)) return at;
  }
  return std::nullopt;
}

std::string encode_snapshot(uint64_t seq, std::string_view payload) {
  std::string out(kSnapshotMagic);
  store32(out, 0);
  store64(out, seq);
  store64(out, payload.size());
  out.append(payload);
  const uint32_t crc = crc32c(std::string_view(out).substr(kSnapshotMagic.size() + 4));
  std::memcpy(out.data() + kSnapshotMagic.size(), &crc, 4);
  return out;
}

bool decode_snapshot(std::string_view data, uint64_t& seq, std::string& payload,
                     std::string& reason) {
  if (data.size() < kSnapshotHeaderBytes ||
      data.substr(0, kSnapshotMagic.size()) != kSnapshotMagic) {
    reason = "not a snapshot file (bad magic or too short)";
    return false;
  }
  const uint64_t length = load64(data.data() + 20);
  if (length != data.size() - kSnapshotHeaderBytes) {
    reason =
        fmt::format("payload length {} does not match the file ({} bytes)", length, data.size());
    return false;
  }
  if (crc32c(data.substr(kSnapshotMagic.size() + 4)) != load32(data.data() + 8)) {
    reason = "checksum mismatch";
    return false;
  }
  seq = load64(data.data() + 12);
  payload.assign(data.substr(kSnapshotHeaderBytes));
  return true;
}

}  // namespace sluice::controller::journal_format
