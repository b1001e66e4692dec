// Connection and stream caps shared by every server in the process (issue 19): the router's
// front doors (traffic/front_door.h) and the API server (api/server.h) count what they hold in
// total and per client with a SlotCounter, and refuse a fresh connection at accept with
// refuse_connection() (a short answer written straight to the socket, no session).
//
// A client is whatever key the caller chooses: the front door uses the peer address, the API
// the token's name when a valid token is presented and the address otherwise.
//
// Threads: SlotCounter is thread-safe; a Slot may be moved and destroyed on any thread, also
// after its counter is gone (it then releases nothing).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace sluice {

class SlotCounter : public std::enable_shared_from_this<SlotCounter> {
 public:
  // 0 for a limit means "no limit".
  static std::shared_ptr<SlotCounter> make(size_t max_total, size_t max_per_key);

  enum class Refusal { kNone, kTotal, kPerKey };

  // One held slot, counted under key(); released when destroyed.
  class Slot {
   public:
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    const std::string& key() const { return key_; }
    // Re-counts this slot under `key` (the total is unchanged). False, and still counted under
    // the old key, when `key` already holds max_per_key slots.
    bool move_to(const std::string& key);

   private:
    friend class SlotCounter;
    Slot(std::weak_ptr<SlotCounter> counter, std::string key)
        : counter_(std::move(counter)), key_(std::move(key)) {}
    std::weak_ptr<SlotCounter> counter_;
    std::string key_;
  };

  struct Taken {
    std::unique_ptr<Slot> slot;  // null when refused
    Refusal refusal = Refusal::kNone;
  };
  Taken take(const std::string& key);

  size_t held() const;
  size_t held_by(const std::string& key) const;
  size_t max_total() const { return max_total_; }
  size_t max_per_key() const { return max_per_key_; }

  SlotCounter(size_t max_total, size_t max_per_key)
      : max_total_(max_total), max_per_key_(max_per_key) {}

 private:
  void release(const std::string& key);
  bool move(const std::string& from, const std::string& to);

  const size_t max_total_;
  const size_t max_per_key_;
  mutable std::mutex mu_;
  size_t total_ = 0;
  std::map<std::string, size_t, std::less<>> per_key_;
};

// Writes a complete `Connection: close` HTTP/1.1 answer with `Retry-After` and a JSON body
// to a freshly accepted socket without blocking (a client that does not read it loses nothing,
// and nothing waits on it), then closes the socket. `status_line` is e.g. "429 Too Many Requests".
void refuse_connection(boost::asio::ip::tcp::socket& socket, std::string_view status_line,
                       std::string_view json_body, int retry_after_seconds);

}  // namespace sluice
