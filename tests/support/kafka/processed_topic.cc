#include "tests/support/kafka/processed_topic.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "examples/services/common/kafka_client.h"

namespace sluice::testing {
namespace {

Result<ProcessedRecord> parse_record(const rd_kafka_message_t& m) {
  const std::string where = fmt::format("partition {} offset {}", m.partition, m.offset);
  const auto* begin = static_cast<const char*>(m.payload);
  const auto j = nlohmann::json::parse(begin, begin + m.len, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    return invalid_argument("output record at " + where + " is not a JSON object");
  ProcessedRecord r;
  // at() throws on a missing field, get<>() on a wrong type: both mean a malformed record.
  try {
    r.seq = j.at("seq").get<int64_t>();
    r.partition = j.at("partition").get<int32_t>();
    r.offset = j.at("offset").get<int64_t>();
    r.version = j.at("version").get<std::string>();
    r.instance = j.value("instance", "");
    r.role = j.value("role", "");
    r.attempts = j.value("attempts", 0);
    r.processed_at_ms = j.at("processedAtMs").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument("output record at " + where + ": " + e.what());
  }
  return r;
}

}  // namespace

Result<std::vector<ProcessedRecord>> read_processed(const std::string& bootstrap_servers,
                                                    const std::string& topic,
                                                    std::chrono::milliseconds timeout) {
  // A plain assign() reader: it never joins the group named here and never commits.
  auto client =
      examples::make_kafka_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_servers},
                                                      {"group.id", "sluice-test-reader"},
                                                      {"enable.auto.commit", "false"},
                                                      {"enable.partition.eof", "true"}});
  if (!client) return client.status();
  std::vector<ProcessedRecord> records;
  Status malformed = Status::ok();
  Status read = examples::read_to_high_watermarks(client.value().get(), topic,
                                                  static_cast<int>(timeout.count()),
                                                  [&](const rd_kafka_message_t& m) {
                                                    auto record = parse_record(m);
                                                    if (record) {
                                                      records.push_back(std::move(record).value());
                                                    } else if (malformed) {
                                                      malformed = record.status();  // the first one
                                                    }
                                                  });
  rd_kafka_consumer_close(client.value().get());
  if (!read) return read;
  if (!malformed) return malformed;
  return records;
}

ProcessedAudit audit_processed(const std::vector<ProcessedRecord>& records, int64_t first_seq,
                               int64_t count) {
  ProcessedAudit a;
  a.expected = count;
  a.records = static_cast<int64_t>(records.size());
  std::vector<int> seen(static_cast<size_t>(std::max<int64_t>(count, 0)), 0);
  for (const ProcessedRecord& r : records) {
    ++a.by_version[r.version];
    const int64_t i = r.seq - first_seq;
    if (i < 0 || i >= count) {
      ++a.strays;
      continue;
    }
    if (seen[static_cast<size_t>(i)]++ > 0) ++a.duplicates;
  }
  for (int64_t i = 0; i < count; ++i) {
    if (seen[static_cast<size_t>(i)] > 0) {
      ++a.distinct;
    } else {
      ++a.lost;
      if (a.first_lost.size() < 10) a.first_lost.push_back(first_seq + i);
    }
  }

  // Runs: sort by time; within one millisecond, the version of the run in progress goes first.
  std::vector<const ProcessedRecord*> by_time;
  by_time.reserve(records.size());
  for (const ProcessedRecord& r : records) by_time.push_back(&r);
  std::stable_sort(by_time.begin(), by_time.end(), [](const auto* x, const auto* y) {
    return x->processed_at_ms < y->processed_at_ms;
  });
  for (size_t i = 0; i < by_time.size();) {
    size_t j = i;
    while (j < by_time.size() && by_time[j]->processed_at_ms == by_time[i]->processed_at_ms) ++j;
    const std::string current = a.runs.empty() ? by_time[i]->version : a.runs.back().version;
    std::stable_partition(by_time.begin() + static_cast<std::ptrdiff_t>(i),
                          by_time.begin() + static_cast<std::ptrdiff_t>(j),
                          [&](const auto* r) { return r->version == current; });
    for (size_t k = i; k < j; ++k) {
      const ProcessedRecord& r = *by_time[k];
      if (a.runs.empty() || a.runs.back().version != r.version) {
        a.runs.push_back({r.version, 0, r.processed_at_ms, r.processed_at_ms});
      }
      ++a.runs.back().records;
      a.runs.back().last_ms = r.processed_at_ms;
    }
    i = j;
  }
  return a;
}

std::string ProcessedAudit::summary() const {
  std::string versions;
  for (const auto& [version, n] : by_version) {
    versions += fmt::format("{}{}={}", versions.empty() ? "" : " ", version, n);
  }
  std::string lost_text;
  for (int64_t seq : first_lost) lost_text += fmt::format(" {}", seq);
  return fmt::format(
      "expected {}, records {}, distinct {}, lost {}{}, duplicates {}, strays {}, by version: {}",
      expected, records, distinct, lost, lost_text.empty() ? "" : " (first:" + lost_text + ")",
      duplicates, strays, versions);
}

std::string ProcessedAudit::runs_text() const {
  std::string out;
  const int64_t origin = runs.empty() ? 0 : runs.front().first_ms;
  for (const VersionRun& run : runs) {
    out += fmt::format("{}{} x{} [{}..{} ms]", out.empty() ? "" : " -> ", run.version, run.records,
                       run.first_ms - origin, run.last_ms - origin);
  }
  return out;
}

std::vector<std::string> ProcessedAudit::run_versions() const {
  std::vector<std::string> out;
  for (const VersionRun& run : runs) out.push_back(run.version);
  return out;
}

std::vector<int64_t> duplicates_by_handover(const std::vector<ProcessedRecord>& records,
                                            const std::vector<int64_t>& handover_ms) {
  std::vector<int64_t> out(handover_ms.size() + 1, 0);
  // Per seq, every processing after the earliest is a duplicate.
  std::unordered_map<int64_t, std::vector<int64_t>> times;
  for (const ProcessedRecord& r : records) times[r.seq].push_back(r.processed_at_ms);
  for (auto& [seq, at] : times) {
    if (at.size() < 2) continue;
    std::sort(at.begin(), at.end());
    for (size_t k = 1; k < at.size(); ++k) {
      const auto after = std::upper_bound(handover_ms.begin(), handover_ms.end(), at[k]);
      ++out[static_cast<size_t>(after - handover_ms.begin())];
    }
  }
  return out;
}

}  // namespace sluice::testing
