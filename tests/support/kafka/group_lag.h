// A consumer group's lag on a topic, measured the way an operator would: the sum over the
// topic's partitions of (high watermark - the group's committed offset), where a partition
// without a committed offset counts whole (the tests' topics never drop records). Plus a
// sampler that records it through a rollout, and the "back to baseline within T" check.
//
// Threads: GroupLagReader is used from one thread. LagSampler owns a thread that uses its reader;
// samples() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "examples/services/common/kafka_client.h"

namespace sluice::testing {

class GroupLagReader {
 public:
  // A consumer handle with group.id = `group` that never joins the group: it only fetches the
  // group's committed offsets and the topic's watermarks.
  static Result<std::unique_ptr<GroupLagReader>> open(const std::string& bootstrap_servers,
                                                      const std::string& group,
                                                      const std::string& topic);
  // The group's total lag now; each broker request is bounded by `timeout`.
  Result<int64_t> lag(std::chrono::milliseconds timeout);

 private:
  GroupLagReader() = default;
  examples::RdKafkaPtr<rd_kafka_t> client_;
  std::string topic_;
};

struct LagSample {
  int64_t at_ms = 0;  // wall clock, ms since the epoch (comparable with processedAtMs)
  int64_t lag = -1;   // -1: the measurement failed
};

class LagSampler {
 public:
  // Samples every `period` until destroyed (or stop()); each measurement is bounded by 2 s.
  LagSampler(std::unique_ptr<GroupLagReader> reader, std::chrono::milliseconds period);
  ~LagSampler();
  LagSampler(const LagSampler&) = delete;
  LagSampler& operator=(const LagSampler&) = delete;
  void stop();
  std::vector<LagSample> samples() const;

 private:
  void run(std::chrono::milliseconds period);
  std::unique_ptr<GroupLagReader> reader_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<LagSample> samples_;
  std::thread thread_;
};

// The largest lag sampled in [from_ms, to_ms]; nullopt when no successful sample lies there.
std::optional<int64_t> max_lag(const std::vector<LagSample>& samples, int64_t from_ms,
                               int64_t to_ms);
// How long after `from_ms` the lag was first at most `threshold` (a sample at or after from_ms),
// if that happened within `within_ms`; else nullopt.
std::optional<int64_t> ms_until_lag_at_most(const std::vector<LagSample>& samples, int64_t from_ms,
                                            int64_t threshold, int64_t within_ms);

// Wall-clock ms since the epoch (the clock orders-stream stamps processedAtMs with).
int64_t unix_now_ms();

}  // namespace sluice::testing
