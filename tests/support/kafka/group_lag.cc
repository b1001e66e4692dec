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
  auto partitions = examples::partition_count(client.value().get(), topic, 5000);
  if (!partitions) return partitions.status();
  std::unique_ptr<GroupLagReader> reader(new GroupLagReader());
  reader->client_ = std::move(client).value();
  reader->topic_ = topic;
  reader->partitions_ = *partitions;
  return reader;
}

Result<int64_t> GroupLagReader::lag(std::chrono::milliseconds timeout) {
  const int timeout_ms = static_cast<int>(timeout.count());
  examples::RdKafkaPtr<rd_kafka_topic_partition_list_t> list(
      rd_kafka_topic_partition_list_new(partitions_));
  for (int32_t p = 0; p < partitions_; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), p);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_committed(client_.get(), list.get(), timeout_ms);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("committed offsets of " + topic_ + ": " + rd_kafka_err2str(err));
  }
  int64_t total = 0;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    int64_t low = 0, high = 0;
    if (rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            client_.get(), topic_.c_str(), tp.partition, &low, &high, timeout_ms);
        err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return unavailable(
          fmt::format("watermarks of {} [{}]: {}", topic_, tp.partition, rd_kafka_err2str(err)));
    }
    const int64_t committed = tp.offset >= 0 ? tp.offset : low;  // none committed: from earliest
    total += std::max<int64_t>(high - committed, 0);
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
