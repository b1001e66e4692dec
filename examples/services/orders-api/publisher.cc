#include "examples/services/orders-api/publisher.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

namespace sluice::examples {

Publisher::Publisher(AmqpUrl url, std::string queue)
    : url_(std::move(url)), queue_(std::move(queue)) {}

Publisher::~Publisher() { stop(0); }

void Publisher::start() {
  thread_ = std::thread([this] { run(); });
}

void Publisher::enqueue(OrderEvent event) {
  std::lock_guard lock(mu_);
  if (pending_.size() >= kMaxQueued || stopping_) {
    ++dropped_;
    return;
  }
  pending_.push_back(std::move(event));
  cv_.notify_all();
}

void Publisher::stop(int flush_ms) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ms_ = unix_ms() + flush_ms;
    }
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t Publisher::published() const {
  std::lock_guard lock(mu_);
  return published_;
}

uint64_t Publisher::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void Publisher::run() {
  std::unique_ptr<AmqpConnection> conn;
  int backoff_ms = 100;
  for (;;) {
    std::unique_lock lock(mu_);
    auto done = [&] { return stopping_ && (pending_.empty() || unix_ms() >= stop_deadline_ms_); };
    if (done()) return;
    if (!conn) {
      if (stopping_) return;  // nothing can be flushed without a broker
      lock.unlock();
      auto opened = AmqpConnection::open(url_, 2000);
      Status s = opened ? opened.value()->declare_durable_queue(queue_) : opened.status();
      lock.lock();
      if (!s) {
        log_.log("connect", "orders-api: publisher: " + s.message() + "; retrying");
        cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return stopping_; });
        backoff_ms = std::min(backoff_ms * 2, 5000);
        continue;
      }
      conn = std::move(opened).value();
      backoff_ms = 100;
      log_.log("connected", "orders-api: publisher connected to the broker");
      continue;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(200),
                 [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) continue;
    OrderEvent event = std::move(pending_.front());
    pending_.pop_front();
    lock.unlock();

    amqp_basic_properties_t props{};
    props._flags =
        AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = 2;  // persistent
    props.message_id = amqp_cstring_bytes(event.message_id.c_str());
    amqp_bytes_t body{event.body.size(), event.body.data()};
    int rc = amqp_basic_publish(conn->state(), AmqpConnection::kChannel, amqp_empty_bytes,
                                amqp_cstring_bytes(queue_.c_str()), 0, 0, &props, body);
    lock.lock();
    if (rc != AMQP_STATUS_OK) {
      log_.log("publish", std::string("orders-api: publish failed: ") + amqp_error_string2(rc));
      pending_.push_front(std::move(event));  // retried on the next connection
      conn->mark_broken();
      conn.reset();
      continue;
    }
    ++published_;
  }
}

}  // namespace sluice::examples
