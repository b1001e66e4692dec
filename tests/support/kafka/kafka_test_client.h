// Test-side Kafka clients (librdkafka) that set up a consumer group's lag exactly: produce a
// number of records to chosen partitions, and commit a group's offsets without consuming (a
// consumer that never joins the group commits explicit offsets, as an operator's
// `kafka-consumer-groups --reset-offsets` would).
//
// Every call is bounded (30 s) and reports what failed; no shell, loopback brokers only.
// Threads: any thread; each call makes and destroys its own client (make_client's clients are
// the caller's).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "healthcheck/analysis/rdkafka_ptr.h"

namespace sluice::testing {

// A producer's delivery reports, counted by a client made with make_client(..., &deliveries).
struct Deliveries {
  int delivered = 0;
  int failed = 0;
  std::string first_error;
};

// A librdkafka client of `type` with `settings` (name, value), its own log silenced; with
// `deliveries`, a producer counts its delivery reports there (served by rd_kafka_poll/flush).
Result<analysis::RdKafkaPtr<rd_kafka_t>> make_client(
    rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& settings,
    Deliveries* deliveries = nullptr);

// Produces counts[p] records to partition p of `topic` (key "k<i>", value "v<i>") and waits for
// every delivery report.
Status produce_to_partitions(const std::string& bootstrap_servers, const std::string& topic,
                             const std::map<int32_t, int>& counts);

// Commits offsets[p] for partition p of `topic` as group `group` (synchronously).
Status commit_offsets(const std::string& bootstrap_servers, const std::string& group,
                      const std::string& topic, const std::map<int32_t, int64_t>& offsets);

}  // namespace sluice::testing
