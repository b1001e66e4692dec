#include "api/auth_failure_log.h"

#include <cctype>

namespace sluice::api {
namespace {

constexpr size_t kMaxRequestChars = 200;

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxRequestChars))
    out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : '?');
  if (text.size() > kMaxRequestChars) out += "...";
  return out;
}

}  // namespace

AuthFailureLog::AuthFailureLog(std::chrono::steady_clock::duration window, size_t max_addresses)
    : window_(window), max_addresses_(max_addresses) {}

std::optional<std::string> AuthFailureLog::note(const std::string& address,
                                                std::string_view request, TimePoint now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(address);
  if (it == entries_.end() && entries_.size() >= max_addresses_) {
    // Make room from addresses whose window has passed; what they still had pending is folded
    // into the shared entry so that it is not lost from the count.
    for (auto e = entries_.begin(); e != entries_.end();) {
      if (now - e->second.logged_at >= window_) {
        others_.pending += e->second.pending;
        e = entries_.erase(e);
      } else {
        ++e;
      }
    }
  }
  if (it == entries_.end() && entries_.size() >= max_addresses_)
    return count("other addresses", others_, request, now);
  if (it == entries_.end()) it = entries_.emplace(address, Entry{}).first;
  return count(address, it->second, request, now);
}

std::optional<std::string> AuthFailureLog::count(const std::string& address, Entry& entry,
                                                 std::string_view request, TimePoint now) {
  ++entry.pending;
  if (entry.logged && now - entry.logged_at < window_) return std::nullopt;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(window_).count();
  std::string line = "api: " + std::to_string(entry.pending) + " failed authentication attempt" +
                     (entry.pending == 1 ? "" : "s") + " from " + address;
  if (entry.logged) line += " since the previous line";
  line += " (last: " + printable(request) + "); further ones are counted, at most one line per " +
          std::to_string(seconds) + "s";
  entry.logged = true;
  entry.logged_at = now;
  entry.pending = 0;
  return line;
}

size_t AuthFailureLog::tracked_addresses() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace sluice::api
