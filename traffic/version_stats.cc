#include "traffic/version_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

namespace sluice::traffic {
namespace {

constexpr double kFirstBucketMs = 0.05;
constexpr double kGrowth = 1.25;

// Interpolated percentile (0..1) over a latency histogram.
double percentile_ms(const std::array<uint64_t, RevisionStats::kLatencyBuckets>& counts,
                     uint64_t total, double q) {
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (int i = 0; i < RevisionStats::kLatencyBuckets; ++i) {
    const uint64_t c = counts[static_cast<size_t>(i)];
    if (c == 0) continue;
    if (static_cast<double>(seen + c) >= rank) {
      const double lo = i == 0 ? 0 : RevisionStats::latency_bucket_upper_ms(i - 1);
      const double hi = RevisionStats::latency_bucket_upper_ms(i);
      const double frac =
          std::clamp((rank - static_cast<double>(seen)) / static_cast<double>(c), 0.0, 1.0);
      return lo + (hi - lo) * frac;
    }
    seen += c;
  }
  return RevisionStats::latency_bucket_upper_ms(RevisionStats::kLatencyBuckets - 1);
}

}  // namespace

int RevisionStats::latency_bucket(double ms) {
  if (!(ms >= kFirstBucketMs)) return 0;  // also NaN
  const int b = 1 + static_cast<int>(std::floor(std::log(ms / kFirstBucketMs) / std::log(kGrowth)));
  return std::min(b, kLatencyBuckets - 1);
}

double RevisionStats::latency_bucket_upper_ms(int bucket) {
  return kFirstBucketMs * std::pow(kGrowth, bucket);
}

RevisionStats::Slot& RevisionStats::slot_for(int64_t second) {
  Slot& slot = slots_[static_cast<size_t>(second % kWindowSlots)];
  for (int spins = 0;; ++spins) {
    int64_t held = slot.second.load(std::memory_order_acquire);
    if (held == second) return slot;
    if (held == -2 || held > second) {
      // Another writer is resetting the slot, or this writer is late by 5 minutes (only under
      // clock jumps): wait for the reset, or count the late sample in the newer second.
      if (held > second) return slot;
      if (spins > 64) std::this_thread::yield();
      continue;
    }
    if (slot.second.compare_exchange_weak(held, -2, std::memory_order_acq_rel)) {
      slot.requests.store(0, std::memory_order_relaxed);
      slot.errors_5xx.store(0, std::memory_order_relaxed);
      for (auto& c : slot.latency) c.store(0, std::memory_order_relaxed);
      slot.second.store(second, std::memory_order_release);
      return slot;
    }
  }
}

void RevisionStats::record(int status_code, std::chrono::nanoseconds latency) {
  const int64_t second = to_unix_ms(clock_.now()) / 1000;
  const double ms = static_cast<double>(latency.count()) / 1e6;
  Slot& slot = slot_for(second < 0 ? 0 : second);
  slot.requests.fetch_add(1, std::memory_order_relaxed);
  if (status_code >= 500) slot.errors_5xx.fetch_add(1, std::memory_order_relaxed);
  slot.latency[static_cast<size_t>(latency_bucket(ms))].fetch_add(1, std::memory_order_relaxed);

  const int cls = std::clamp(status_code / 100, 1, 5) - 1;
  by_class_[static_cast<size_t>(cls)].fetch_add(1, std::memory_order_relaxed);
  const double seconds = ms / 1000;
  size_t b = 0;
  while (b < kDurationBucketsSeconds.size() && seconds > kDurationBucketsSeconds[b]) ++b;
  duration_buckets_[b].fetch_add(1, std::memory_order_relaxed);
  duration_sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, latency.count())),
                             std::memory_order_relaxed);

  const int64_t stored_second = second < 0 ? 0 : second;
  if (first_second_.load(std::memory_order_relaxed) < 0) {
    int64_t unset = -1;
    first_second_.compare_exchange_strong(unset, stored_second, std::memory_order_relaxed);
  }
  const uint64_t micros = static_cast<uint64_t>(
      std::clamp<int64_t>(latency.count() / 1000, 0, std::numeric_limits<uint32_t>::max()));
  // second + 1 so that 0 always means "empty", even for a clock at the epoch.
  const uint64_t entry = ((static_cast<uint64_t>(stored_second) + 1) << 32) | micros;
  const uint64_t index = durations_written_.fetch_add(1, std::memory_order_relaxed);
  durations_[index % kDurationRing].store(entry, std::memory_order_relaxed);
}

std::vector<double> RevisionStats::samples(SampleKind kind, Duration window) const {
  const int64_t now_second = to_unix_ms(clock_.now()) / 1000;
  const int64_t seconds = std::clamp<int64_t>((window.count() + 999) / 1000, 1, kWindowSlots);
  const int64_t oldest = now_second - seconds + 1;  // first second inside the window
  std::vector<double> out;
  if (kind == SampleKind::kRequestDurationMs) {
    const uint64_t written = durations_written_.load(std::memory_order_relaxed);
    const uint64_t begin = written > kDurationRing ? written - kDurationRing : 0;
    out.reserve(static_cast<size_t>(written - begin));
    for (uint64_t i = begin; i < written; ++i) {
      const uint64_t entry = durations_[i % kDurationRing].load(std::memory_order_relaxed);
      if (entry == 0) continue;  // claimed by a writer that has not stored yet
      const int64_t second = static_cast<int64_t>(entry >> 32) - 1;
      if (second < oldest || second > now_second) continue;
      out.push_back(static_cast<double>(entry & 0xffffffffu) / 1000.0);
    }
    return out;
  }
  const int64_t first = first_second_.load(std::memory_order_relaxed);
  if (first < 0) return out;
  // The revision's first second is partial (traffic began inside it): it would understate the
  // rate, so counts start one second later. A ratio is not biased by a partial second.
  const int64_t from = std::max(oldest, kind == SampleKind::kRequestsPerSecond ? first + 1 : first);
  for (int64_t second = from; second < now_second; ++second) {
    const Slot& slot = slots_[static_cast<size_t>(second % kWindowSlots)];
    uint64_t requests = 0, errors = 0;
    if (slot.second.load(std::memory_order_acquire) == second) {
      requests = slot.requests.load(std::memory_order_relaxed);
      errors = slot.errors_5xx.load(std::memory_order_relaxed);
      // A writer may have recycled the slot for a newer second while we read: then the second
      // asked for is gone (older than the window's ring); count nothing rather than the newer one.
      if (slot.second.load(std::memory_order_acquire) != second) requests = errors = 0;
    }
    if (kind == SampleKind::kRequestsPerSecond) {
      out.push_back(static_cast<double>(requests));
    } else if (requests > 0) {
      errors = std::min(errors, requests);
      out.push_back(static_cast<double>(requests - errors) / static_cast<double>(requests));
    }
  }
  return out;
}

std::optional<VersionStats> RevisionStats::window(Duration window) const {
  const int64_t now_second = to_unix_ms(clock_.now()) / 1000;
  const int64_t seconds = std::clamp<int64_t>((window.count() + 999) / 1000, 1, kWindowSlots);
  std::array<uint64_t, kLatencyBuckets> latency{};
  uint64_t requests = 0, errors = 0;
  for (const Slot& slot : slots_) {
    const int64_t held = slot.second.load(std::memory_order_acquire);
    if (held < 0 || held > now_second || held <= now_second - seconds) continue;
    requests += slot.requests.load(std::memory_order_relaxed);
    errors += slot.errors_5xx.load(std::memory_order_relaxed);
    for (size_t i = 0; i < latency.size(); ++i) {
      latency[i] += slot.latency[i].load(std::memory_order_relaxed);
    }
  }
  if (requests == 0) return std::nullopt;
  VersionStats out;
  out.requests = requests;
  out.errors_5xx = std::min(errors, requests);
  out.success_rate = static_cast<double>(requests - out.errors_5xx) / static_cast<double>(requests);
  uint64_t histogram_total = 0;
  for (uint64_t c : latency) histogram_total += c;
  out.p50_ms = percentile_ms(latency, histogram_total, 0.50);
  out.p99_ms = percentile_ms(latency, histogram_total, 0.99);
  out.window = Duration(seconds * 1000);
  out.rps = static_cast<double>(requests) / static_cast<double>(seconds);
  return out;
}

RevisionStats::Totals RevisionStats::totals() const {
  Totals t;
  for (size_t i = 0; i < by_class_.size(); ++i) {
    t.by_class[i] = by_class_[i].load(std::memory_order_relaxed);
    t.count += t.by_class[i];
  }
  for (size_t i = 0; i < duration_buckets_.size(); ++i) {
    t.duration_buckets[i] = duration_buckets_[i].load(std::memory_order_relaxed);
  }
  t.duration_sum_seconds =
      static_cast<double>(duration_sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return t;
}

}  // namespace sluice::traffic
