// What a consumer under test wrote to its output topic (orders-stream's `orders-processed`: one
// JSON record per processed input record), read back from the beginning, and the checks the
// Kafka rollout tests make on it: lost sequence numbers, duplicates (and which hand-over they
// fall in), the time span of each version, and whether two versions processed at once.
//
// Threads: free functions; read_processed() uses its own client.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace sluice::testing {

// One output record: {"seq","partition","offset","version","instance","role","attempts",
// "processedAtMs"} (the orders-stream contract). `partition`/`offset` are the input record's.
struct ProcessedRecord {
  int64_t seq = -1;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string version;
  std::string instance;
  std::string role;
  int attempts = 0;
  int64_t processed_at_ms = 0;
};

// Every record of `topic`, from the earliest offset up to the high watermarks taken when the call
// starts, in no particular order across partitions. A value that is not such a JSON object is
// an error naming its partition and offset. Fails if the end is not reached within `timeout`.
Result<std::vector<ProcessedRecord>> read_processed(const std::string& bootstrap_servers,
                                                    const std::string& topic,
                                                    std::chrono::milliseconds timeout);

// A stretch of time in which only one version processed: consecutive records (by processedAtMs)
// of that version. Records with the same millisecond are kept with the run in progress, so a
// tie at a switch does not count as an overlap.
struct VersionRun {
  std::string version;
  int64_t records = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
};

struct ProcessedAudit {
  int64_t expected = 0;                       // sequence numbers first_seq .. first_seq + count - 1
  int64_t records = 0;                        // records read
  int64_t distinct = 0;                       // distinct expected seqs seen
  int64_t lost = 0;                           // expected seqs never seen
  int64_t duplicates = 0;                     // records of an expected seq beyond its first
  int64_t strays = 0;                         // records whose seq is outside the expected range
  std::vector<int64_t> first_lost;            // up to 10, ascending
  std::map<std::string, int64_t> by_version;  // records per version
  std::vector<VersionRun> runs;               // in time order
  // One line for failure messages and WARN output.
  std::string summary() const;
  // "1.0.0 x123 [t0..t1] -> 2.0.0 x456 [t2..t3] ...", ms relative to the first record.
  std::string runs_text() const;
  // The versions of `runs`, in order (e.g. {"1.0.0", "2.0.0"} for one clean hand-over).
  std::vector<std::string> run_versions() const;
};

ProcessedAudit audit_processed(const std::vector<ProcessedRecord>& records, int64_t first_seq,
                               int64_t count);

// Duplicates by the hand-over they fall in: a repeated processing of a seq belongs to the last
// entry of `handover_ms` (ascending, wall-clock ms) at or before its processedAtMs. Element 0
// counts those before the first hand-over, element i those after hand-over i-1's time.
std::vector<int64_t> duplicates_by_handover(const std::vector<ProcessedRecord>& records,
                                            const std::vector<int64_t>& handover_ms);

}  // namespace sluice::testing
