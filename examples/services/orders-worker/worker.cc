#include "examples/services/orders-worker/worker.h"

#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

namespace sluice::examples {
namespace {

constexpr int kPollMs = 100;

std::string to_string(amqp_bytes_t bytes) {
  return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

timeval to_timeval(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

}  // namespace

Worker::Worker(WorkerOptions options)
    : options_(std::move(options)),
      processed_log_(options_.processed_log),
      activation_log_(options_.activation_log) {
  desired_active_ = options_.start_active;
}

Worker::~Worker() { stop(); }

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::stop() {
  {
    std::lock_guard lock(mu_);
    exit_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool Worker::activate(int wait_ms) {
  std::unique_lock lock(mu_);
  desired_active_ = true;
  cv_.notify_all();
  cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return counters_.active || exit_; });
  return counters_.active;
}

DeactivateResult Worker::deactivate(int wait_ms) {
  std::unique_lock lock(mu_);
  desired_active_ = false;
  uint64_t generation = ++deactivate_requested_;
  cv_.notify_all();
  bool done = cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                           [&] { return deactivate_completed_ >= generation; });
  return {done, counters_.processed, last_in_flight_finished_};
}

WorkerCounters Worker::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void Worker::log_activation(const char* what) {
  activation_log_.append(std::to_string(unix_ms()) + " " + std::to_string(::getpid()) + " " +
                         options_.version + " " + what);
}

void Worker::run() {
  int backoff_ms = 100;
  for (;;) {
    bool want_active;
    {
      std::lock_guard lock(mu_);
      if (exit_) break;
      want_active = desired_active_;
    }
    if (!conn_) {
      if (!connect()) {
        std::unique_lock lock(mu_);
        // Nothing consumes while disconnected, so a deactivation is complete at once.
        if (deactivate_requested_ > deactivate_completed_) {
          last_in_flight_finished_ = 0;
          deactivate_completed_ = deactivate_requested_;
          cv_.notify_all();
        }
        cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms),
                     [&] { return exit_ || deactivate_requested_ > deactivate_completed_; });
        backoff_ms = std::min(backoff_ms * 2, 5000);
        continue;
      }
      backoff_ms = 100;
    }
    bool consuming = !consumer_tag_.empty();
    if (want_active && !consuming) {
      if (!start_consuming()) drop_connection();
      continue;
    }
    if (!want_active && consuming) {
      if (!finish_consuming()) drop_connection();
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (!consuming && deactivate_requested_ > deactivate_completed_) {
        last_in_flight_finished_ = 0;
        deactivate_completed_ = deactivate_requested_;
        cv_.notify_all();
      }
    }
    if (consuming) {
      bool got = false;
      if (!handle_next(kPollMs, &got)) drop_connection();
    } else {
      // Idle but connected: read (and notice a closed connection) without consuming.
      amqp_frame_t frame;
      timeval tv = to_timeval(kPollMs);
      int rc = amqp_simple_wait_frame_noblock(conn_->state(), &frame, &tv);
      if (rc == AMQP_STATUS_TIMEOUT) continue;
      if (rc != AMQP_STATUS_OK || (frame.frame_type == AMQP_FRAME_METHOD &&
                                   (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
                                    frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD))) {
        drop_connection();
      }
    }
  }
  if (conn_) {
    // Graceful close: the broker requeues anything unacked (nothing after a deactivation).
    if (!consumer_tag_.empty()) log_activation("deactivate-begin");
    bool was_consuming = !consumer_tag_.empty();
    consumer_tag_.clear();
    conn_.reset();
    if (was_consuming) log_activation("deactivate-end");
  }
  std::lock_guard lock(mu_);
  counters_.active = false;
  counters_.connected = false;
  cv_.notify_all();
}

bool Worker::connect() {
  auto opened = AmqpConnection::open(options_.url, 2000);
  Status s = opened ? opened.value()->declare_durable_queue(options_.queue) : opened.status();
  if (s) {
    amqp_basic_qos(opened.value()->state(), AmqpConnection::kChannel, 0,
                   static_cast<uint16_t>(options_.prefetch), 0);
    s = amqp_reply_status(amqp_get_rpc_reply(opened.value()->state()), "basic.qos");
  }
  if (!s) {
    log_.log("connect", "orders-worker: " + s.message() + "; retrying with back-off");
    return false;
  }
  conn_ = std::move(opened).value();
  log_.log("connected", "orders-worker: connected to the broker, queue " + options_.queue);
  std::lock_guard lock(mu_);
  counters_.connected = true;
  cv_.notify_all();
  return true;
}

void Worker::drop_connection() {
  log_.log("dropped", "orders-worker: connection to the broker lost; reconnecting");
  bool was_consuming = !consumer_tag_.empty();
  if (was_consuming) log_activation("deactivate-begin");
  conn_->mark_broken();
  conn_.reset();
  consumer_tag_.clear();
  // Unacked deliveries return to the queue when the broker notices the closed connection.
  if (was_consuming) log_activation("deactivate-end");
  std::lock_guard lock(mu_);
  counters_.connected = false;
  counters_.active = false;
  cv_.notify_all();
}

bool Worker::start_consuming() {
  amqp_basic_consume_ok_t* ok = amqp_basic_consume(
      conn_->state(), AmqpConnection::kChannel, amqp_cstring_bytes(options_.queue.c_str()),
      amqp_empty_bytes, /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  Status s = amqp_reply_status(amqp_get_rpc_reply(conn_->state()), "basic.consume");
  if (!s || ok == nullptr) {
    log_.log("consume", "orders-worker: " + s.message());
    return false;
  }
  consumer_tag_ = to_string(ok->consumer_tag);
  log_activation("activate");
  std::lock_guard lock(mu_);
  counters_.active = true;
  cv_.notify_all();
  return true;
}

bool Worker::finish_consuming() {
  log_activation("deactivate-begin");
  // basic.cancel: deliveries that reach us before cancel-ok are queued by librabbitmq, and
  // the broker sends none after it. So once cancel-ok is read, every message delivered to this
  // consumer is either acked already or waiting in the local queue; drain those now.
  amqp_basic_cancel(conn_->state(), AmqpConnection::kChannel,
                    amqp_cstring_bytes(consumer_tag_.c_str()));
  Status s = amqp_reply_status(amqp_get_rpc_reply(conn_->state()), "basic.cancel");
  // On failure the connection is dropped, which ends the consumer and returns its unacked
  // messages to the queue.
  auto abandon = [&](const char* key, const Status& status) {
    log_.log(key, "orders-worker: " + status.message());
    draining_ = false;
    consumer_tag_.clear();
    log_activation("deactivate-end");
    return false;
  };
  if (!s) return abandon("cancel", s);
  drained_ = 0;
  draining_ = true;
  for (;;) {
    bool got = false;
    if (!handle_next(0, &got))
      return abandon("drain", unavailable("connection lost while draining"));
    if (!got && !amqp_frames_enqueued(conn_->state()) && !amqp_data_in_buffer(conn_->state())) {
      break;
    }
  }
  draining_ = false;
  // Acks are one-way frames. A synchronous call on the same channel returns only after the
  // broker has applied every ack/nack sent before it, so "answered" really means "settled".
  amqp_queue_declare(conn_->state(), AmqpConnection::kChannel,
                     amqp_cstring_bytes(options_.queue.c_str()), /*passive=*/1, 0, 0, 0,
                     amqp_empty_table);
  s = amqp_reply_status(amqp_get_rpc_reply(conn_->state()), "queue.declare(passive)");
  if (!s) return abandon("barrier", s);
  consumer_tag_.clear();
  log_activation("deactivate-end");
  std::lock_guard lock(mu_);
  counters_.active = false;
  last_in_flight_finished_ = drained_;
  deactivate_completed_ = deactivate_requested_;
  cv_.notify_all();
  return true;
}

bool Worker::handle_next(int timeout_ms, bool* got_message) {
  amqp_connection_state_t conn = conn_->state();
  // Buffers may only be released when no frame is queued: queued frames live in them.
  if (!amqp_frames_enqueued(conn)) amqp_maybe_release_buffers(conn);
  amqp_envelope_t envelope;
  timeval tv = to_timeval(timeout_ms);
  amqp_rpc_reply_t reply = amqp_consume_message(conn, &envelope, &tv, 0);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
    *got_message = true;
    bool ok = process(envelope);
    amqp_destroy_envelope(&envelope);
    return ok;
  }
  if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION) return false;
  if (reply.library_error == AMQP_STATUS_TIMEOUT) return true;
  if (reply.library_error != AMQP_STATUS_UNEXPECTED_STATE) return false;
  // A frame other than a delivery: a broker-side cancel, or a close.
  amqp_frame_t frame;
  timeval frame_tv = to_timeval(1000);
  if (amqp_simple_wait_frame_noblock(conn, &frame, &frame_tv) != AMQP_STATUS_OK) return false;
  if (frame.frame_type != AMQP_FRAME_METHOD) return true;
  switch (frame.payload.method.id) {
    case AMQP_BASIC_CANCEL_METHOD: {  // the queue was deleted: the consumer is gone
      log_.log("cancelled", "orders-worker: consumer cancelled by the broker");
      if (!draining_) log_activation("deactivate-begin");
      consumer_tag_.clear();
      if (!draining_) log_activation("deactivate-end");
      std::lock_guard lock(mu_);
      counters_.active = false;
      desired_active_ = false;
      cv_.notify_all();
      return true;
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
      return false;
    default:
      return true;
  }
}

bool Worker::process(const amqp_envelope_t& envelope) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const amqp_basic_properties_t& props = envelope.message.properties;
  std::string id = (props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) && props.message_id.len > 0
                       ? to_string(props.message_id)
                       : to_string(envelope.message.body);
  std::replace(id.begin(), id.end(), '\n', ' ');
  amqp_connection_state_t conn = conn_->state();
  Outcome outcome;
  int rc;
  if (seen_ids_.count(id) > 0) {
    // A redelivery of an id this process already processed: acked without processing it
    // again, and logged as "<id> duplicate" so that whoever audits the log counts it - a
    // redelivery is a duplicate delivery whichever process it reaches.
    outcome = Outcome::kDuplicate;
    processed_log_.append(id + " duplicate");
    rc = amqp_basic_ack(conn, AmqpConnection::kChannel, envelope.delivery_tag, 0);
  } else if (options_.fail_rate > 0 &&
             std::uniform_real_distribution<double>(0, 1)(rng) < options_.fail_rate) {
    outcome = Outcome::kFailed;
    rc = options_.fail_requeue
             ? amqp_basic_nack(conn, AmqpConnection::kChannel, envelope.delivery_tag, 0, 1)
             : amqp_basic_ack(conn, AmqpConnection::kChannel, envelope.delivery_tag, 0);
  } else {
    outcome = Outcome::kProcessed;
    if (options_.work_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.work_ms));
    }
    // Recorded before the ack: a crash in between redelivers the message, which is then a
    // duplicate, never a loss.
    seen_ids_.insert(id);
    processed_log_.append(id);
    rc = amqp_basic_ack(conn, AmqpConnection::kChannel, envelope.delivery_tag, 0);
  }
  if (rc != AMQP_STATUS_OK) {
    log_.log("ack", std::string("orders-worker: ack failed: ") + amqp_error_string2(rc));
    return false;
  }
  if (draining_) ++drained_;
  std::lock_guard lock(mu_);
  switch (outcome) {
    case Outcome::kProcessed:
      ++counters_.processed;
      break;
    case Outcome::kFailed:
      ++counters_.failed;
      break;
    case Outcome::kDuplicate:
      ++counters_.duplicates;
      break;
  }
  return true;
}

}  // namespace sluice::examples
