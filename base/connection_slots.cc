#include "base/connection_slots.h"

#include <array>
#include <string>

namespace sluice {

std::shared_ptr<SlotCounter> SlotCounter::make(size_t max_total, size_t max_per_key) {
  return std::make_shared<SlotCounter>(max_total, max_per_key);
}

SlotCounter::Taken SlotCounter::take(const std::string& key) {
  {
    std::lock_guard lock(mu_);
    if (max_total_ != 0 && total_ >= max_total_) return {nullptr, Refusal::kTotal};
    auto it = per_key_.find(key);
    const size_t mine = it == per_key_.end() ? 0 : it->second;
    if (max_per_key_ != 0 && mine >= max_per_key_) return {nullptr, Refusal::kPerKey};
    ++per_key_[key];
    ++total_;
  }
  return {std::unique_ptr<Slot>(new Slot(weak_from_this(), key)), Refusal::kNone};
}

size_t SlotCounter::held() const {
  std::lock_guard lock(mu_);
  return total_;
}

size_t SlotCounter::held_by(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = per_key_.find(key);
  return it == per_key_.end() ? 0 : it->second;
}

void SlotCounter::release(const std::string& key) {
  std::lock_guard lock(mu_);
  --total_;
  auto it = per_key_.find(key);
  if (it != per_key_.end() && --it->second == 0) per_key_.erase(it);
}

bool SlotCounter::move(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  auto it = per_key_.find(to);
  const size_t theirs = it == per_key_.end() ? 0 : it->second;
  if (max_per_key_ != 0 && theirs >= max_per_key_) return false;
  ++per_key_[to];
  auto old = per_key_.find(from);
  if (old != per_key_.end() && --old->second == 0) per_key_.erase(old);
  return true;
}

SlotCounter::Slot::~Slot() {
  if (auto counter = counter_.lock()) counter->release(key_);
}

bool SlotCounter::Slot::move_to(const std::string& key) {
  if (key == key_) return true;
  auto counter = counter_.lock();
  if (!counter) {
    key_ = key;
    return true;
  }
  if (!counter->move(key_, key)) return false;
  key_ = key;
  return true;
}

void refuse_connection(boost::asio::ip::tcp::socket& socket, std::string_view status_line,
                       std::string_view json_body, int retry_after_seconds) {
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  std::string response = "HTTP/1.1 ";
  response += status_line;
  response += "\r\nConnection: close\r\nContent-Type: application/json\r\nRetry-After: ";
  response += std::to_string(retry_after_seconds);
  response += "\r\nContent-Length: " + std::to_string(json_body.size()) + "\r\n\r\n";
  response += json_body;
  socket.write_some(boost::asio::buffer(response), ignored);
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  // Closing with unread input sends a reset, which may destroy the answer before the client has
  // read it; a request that has already arrived is read and dropped first (bounded).
  std::array<char, 4096> sink{};
  for (int i = 0; i < 16; ++i) {
    const size_t n = socket.read_some(boost::asio::buffer(sink), ignored);
    if (ignored || n == 0) break;
  }
  socket.close(ignored);
}

}  // namespace sluice
