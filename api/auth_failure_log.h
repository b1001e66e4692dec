// The log of failed authentication attempts (401s: a missing or unknown bearer token, a bad
// webhook signature), rate-limited so that a client guessing tokens cannot flood the log: at most
// one line per client address per window (10 s), carrying how many attempts it stands for.
// The first failure from an address is logged at once; failures within the window are counted
// and reported by the next line after it. Tokens never reach this class.
//
// Memory is bounded: at most max_addresses addresses are tracked; beyond that (a flood from many
// addresses) failures share one "other addresses" entry.
//
// Thread safety: note() may be called from any thread (a mutex).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::api {

class AuthFailureLog {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit AuthFailureLog(std::chrono::steady_clock::duration window = std::chrono::seconds(10),
                          size_t max_addresses = 4096);

  // Records one failed attempt from `address` on `request` ("GET /api/v1/rollouts"); returns
  // the line to log when one is due. Control characters of `request` are replaced.
  std::optional<std::string> note(const std::string& address, std::string_view request,
                                  TimePoint now);

  size_t tracked_addresses() const;

 private:
  struct Entry {
    TimePoint logged_at{};
    uint64_t pending = 0;  // failures since logged_at that no line has reported yet
    bool logged = false;
  };
  std::optional<std::string> count(const std::string& address, Entry& entry,
                                   std::string_view request, TimePoint now);

  const std::chrono::steady_clock::duration window_;
  const size_t max_addresses_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  Entry others_;
};

}  // namespace sluice::api
