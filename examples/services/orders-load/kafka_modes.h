// orders-load's Kafka modes (the HTTP load mode is orders_load_main.cc):
//
//   produce  --kafka-brokers B --topic T --rate R --count N [--start-seq S]
//            N records with seq S..S+N-1 at a steady R per second (idempotent producer,
//            acks=all), key = the seq in decimal, value {"seq":N,"sentAtMs":T}; waits for every
//            delivery. Exit 0 only if every record it sent was delivered (SIGINT/SIGTERM ends the
//            run early; the summary then says "interrupted").
//   audit    --kafka-brokers B --audit-topic T --expect-seq S:N
//            reads T from the beginning up to the high watermarks it had at the start and counts
//            records, distinct seqs, duplicates, lost seqs of S..S+N-1 and records per version.
//            Exit 0 only if none was lost.
//   lag      --kafka-brokers B --lag-group G --topic T
//            the group's lag on T: high watermark - committed offset, summed over partitions
//            (a partition without a committed offset counts from its low watermark).
//
// Every mode prints a summary for people, or one JSON object with --output json.
#pragma once

#include <set>
#include <string>

#include "examples/services/common/service_util.h"

namespace sluice::examples {

// The flags the Kafka modes add to orders-load's, and their part of --help.
std::set<std::string> kafka_flag_names();
extern const char* const kKafkaUsage;

// The Kafka mode `flags` ask for (they have --kafka-brokers); returns the exit status.
int run_kafka_mode(const Flags& flags, bool json_output);

}  // namespace sluice::examples
