#include "tests/support/kafka/group_lag.h"

#include <fmt/format.h>

namespace sluice::testing {

using namespace std::chrono_literals;

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<GroupLagReader>> GroupLagReader::open(const std::string& bootstrap_servers,
                                                             const std::string& group,
                                                             const std::string& topic) {
  auto client =
      examples::make_kafka_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_servers},
                                                      {"group.id", group},
                                                      {"enable.auto.commit", "false"}});
  if (!client) return client.status();
  // The topic must exist (lag() reads its partitions from the metadata each time).
  if (auto partitions = examples::partition_count(client.value().get(), topic, 5000); !partitions) {
    return partitions.status();
  }
  std::unique_ptr<GroupLagReader> reader(new GroupLagReader());
  reader->client_ = std::move(client).value();
  reader->topic_ = topic;
  return reader;
}

Result<int64_t> GroupLagReader::lag(std::chrono::milliseconds timeout) {
  const int timeout_ms = static_cast<int>(timeout.count());
  auto highs = examples::high_watermarks(client_.get(), topic_, timeout_ms);
  if (!highs) return highs.status();
  auto committed = examples::committed_offsets(client_.get(), topic_, *highs, timeout_ms);
  if (!committed) return committed.status();
  int64_t total = 0;
  for (const auto& [partition, high] : *highs) {
    // Nothing committed: the whole partition. The tests' topics never drop records, so their
    // earliest retained offset is 0.
    const int64_t offset = std::max<int64_t>((*committed)[partition], 0);
    total += std::max<int64_t>(high - offset, 0);
  }
  return total;
}

LagSampler::LagSampler(std::unique_ptr<GroupLagReader> reader, std::chrono::milliseconds period)
    : reader_(std::move(reader)) {
  thread_ = std::thread([this, period] { run(period); });
}

LagSampler::~LagSampler() { stop(); }

void LagSampler::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void LagSampler::run(std::chrono::milliseconds period) {
  auto next = std::chrono::steady_clock::now();
  while (!stopping_) {
    auto lag = reader_->lag(2s);
    LagSample sample{unix_now_ms(), lag ? *lag : -1};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      samples_.push_back(sample);
    }
    next += period;
    // Short sleeps, so stop() returns within ~50 ms.
    while (!stopping_ && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          50ms, next - std::chrono::steady_clock::now()));
    }
  }
}

std::vector<LagSample> LagSampler::samples() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return samples_;
}

std::optional<int64_t> max_lag(const std::vector<LagSample>& samples, int64_t from_ms,
                               int64_t to_ms) {
  std::optional<int64_t> most;
  for (const LagSample& s : samples) {
    if (s.lag < 0 || s.at_ms < from_ms || s.at_ms > to_ms) continue;
    most = std::max(most.value_or(0), s.lag);
  }
  return most;
}

std::optional<int64_t> ms_until_lag_at_most(const std::vector<LagSample>& samples, int64_t from_ms,
                                            int64_t threshold, int64_t within_ms) {
  for (const LagSample& s : samples) {
    if (s.lag < 0 || s.at_ms < from_ms) continue;
    if (s.at_ms - from_ms > within_ms) return std::nullopt;
    if (s.lag <= threshold) return s.at_ms - from_ms;
  }
  return std::nullopt;
}

}  // namespace sluice::testing
