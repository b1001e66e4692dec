// Per-revision request statistics for the built-in router.
//
// RevisionStats::record() is called on the router's I/O threads for every proxied request and is
// lock-free (relaxed atomics). Reads (window(), totals()) may run on any thread concurrently with
// recording; they merge the counters without stopping writers, so a read is a consistent-enough
// snapshot (a request recorded during the read may or may not be counted).
//
// Rolling window: 300 one-second buckets (5 minutes), keyed by Clock time, each with a request
// count, a 5xx count and a log-scale latency histogram (64 buckets, x1.25 from 50 us) from which
// p50/p99 are interpolated. Cumulative totals (per status class and a Prometheus-style duration
// histogram) back the /metrics text.
//
// Samples for the judge (samples()): the same one-second slots give per-second request counts and
// success ratios; a ring of the last kDurationRing request durations (one 64-bit atomic each:
// unix second << 32 | microseconds) gives per-request durations. record() adds one fetch_add and
// one store for the ring; a reader may see an entry overwritten by a newer request while it reads
// (it then reports the newer one), which costs nothing but the exact order.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "base/clock.h"
#include "traffic/router.h"

namespace sluice::traffic {

// Upper bounds (seconds) of sluice_router_request_duration_seconds buckets; +Inf is implicit.
inline constexpr std::array<double, 14> kDurationBucketsSeconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

class RevisionStats {
 public:
  static constexpr int kWindowSlots = 300;  // seconds kept
  static constexpr int kLatencyBuckets = 64;
  static constexpr size_t kDurationRing = 1024;  // per-request durations kept

  explicit RevisionStats(const Clock& clock) : clock_(clock) {}
  RevisionStats(const RevisionStats&) = delete;
  RevisionStats& operator=(const RevisionStats&) = delete;

  // Any thread, lock-free. status_code is the HTTP status sent to the client.
  void record(int status_code, std::chrono::nanoseconds latency);

  // Stats over the trailing window (clamped to [1 s, 300 s]); nullopt when no request was seen
  // in the window.
  std::optional<VersionStats> window(Duration window) const;

  struct Totals {
    std::array<uint64_t, 5> by_class{};                                           // 1xx..5xx
    std::array<uint64_t, kDurationBucketsSeconds.size() + 1> duration_buckets{};  // not cumulative
    double duration_sum_seconds = 0;
    uint64_t count = 0;
  };
  Totals totals() const;

  // Observations over the trailing window (clamped to [1 s, 300 s]), oldest first; see router.h
  // SampleKind. Per-second kinds cover only completed seconds (the current one is still filling)
  // since the first second in which this revision answered a request; per-request durations are
  // the last kDurationRing requests at most.
  std::vector<double> samples(SampleKind kind, Duration window) const;

  // Latency bucket helpers (exposed for tests).
  static int latency_bucket(double ms);
  static double latency_bucket_upper_ms(int bucket);

 private:
  struct Slot {
    // Unix second this slot holds; -1 = empty, -2 = being reset by a writer.
    std::atomic<int64_t> second{-1};
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> errors_5xx{0};
    std::array<std::atomic<uint32_t>, kLatencyBuckets> latency{};
  };

  Slot& slot_for(int64_t second);

  const Clock& clock_;
  std::array<Slot, kWindowSlots> slots_;
  std::array<std::atomic<uint64_t>, 5> by_class_{};
  std::array<std::atomic<uint64_t>, kDurationBucketsSeconds.size() + 1> duration_buckets_{};
  std::atomic<uint64_t> duration_sum_ns_{0};
  std::array<std::atomic<uint64_t>, kDurationRing> durations_{};  // 0 = empty
  std::atomic<uint64_t> durations_written_{0};
  std::atomic<int64_t> first_second_{-1};  // first unix second with a recorded request
};

}  // namespace sluice::traffic
