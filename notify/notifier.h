// Delivers notifications: maps each recorded event to its triggers (notify/triggers.h), filters
// by target and rollout, and posts to Slack-compatible or generic webhook targets.
//
// Threads and ownership: the Notifier owns one thread running its own io_context ("notify"
// thread); every HTTP exchange, retry timer and queue pop runs there. submit() may be called from
// any thread (serve calls it on the controller thread): it copies the event into the bounded
// queue of each matching target under a mutex and never waits on I/O, so a slow, hanging or
// failing target delays neither a rollout decision nor another target (each target has its own
// queue and at most one exchange in flight; exchanges are asynchronous).
//
// Delivery is at least once: a delivery is retried (transport errors, 408, 429, 5xx) with
// exponential backoff up to max_attempts, then given up; other answers give up at once. Each
// outcome is counted in sluice_notifications_total{target,trigger,result}: sent, failed (gave
// up), dropped (queue full, or still queued when stop()'s drain time ran out). Give-ups and drops
// are logged with the target's name, never its URL or key. Every request carries
// X-Sluice-Delivery: <event id>.<trigger> (the same on every retry: receivers dedupe on it).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/status.h"
#include "notify/target.h"

namespace sluice::notify {

struct NotifierOptions {
  std::string dashboard_base = "http://127.0.0.1:7070";  // api.externalUrl
  size_t queue_limit = 1000;                              // per target
  int max_attempts = 5;
  Duration first_backoff{500};  // doubles per attempt
  Duration max_backoff{30'000};
  Duration attempt_timeout{10'000};
};

class Notifier {
 public:
  // Reads every target's secrets (Slack URL file, HMAC key file) and checks the URLs. Errors name
  // the target, the config position, the field and the file, never the file's content.
  static Result<std::unique_ptr<Notifier>> create(std::vector<TargetConfig> targets,
                                                  NotifierOptions options);
  ~Notifier();  // stop(0) if still running
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  void start();  // starts the notify thread
  // Any thread. Events with an id at or below the highest seen are ignored (replays).
  void submit(const nlohmann::json& event);
  // Waits up to `drain` for the queues to empty, then stops the thread; what is still queued is
  // counted as dropped and logged. Idempotent.
  void stop(Duration drain);

  // Prometheus text: sluice_notifications_total and sluice_notifications_queued. Any thread.
  std::string metrics_text() const;
  uint64_t count(const std::string& target, const std::string& trigger,
                 const std::string& result) const;  // for tests
  size_t target_count() const { return targets_.size(); }

 private:
  struct Delivery {
    uint64_t event_id = 0;
    std::string trigger;
    nlohmann::json event;
    int attempts = 0;
  };
  struct Target {
    TargetConfig config;
    std::string url;     // the resolved URL (secret)
    std::string secret;  // HMAC key, "" when none
    std::deque<Delivery> queue;  // guarded by mu_; front is in flight when busy
    bool busy = false;           // guarded by mu_
    std::unique_ptr<boost::asio::steady_timer> retry_timer;  // notify thread only
  };

  Notifier(std::vector<Target> targets, NotifierOptions options);
  void pump(size_t index);  // notify thread
  void attempt(size_t index);
  void finish_front(size_t index, const std::string& result, const std::string& why);
  void add_count(const std::string& target, const std::string& trigger, const std::string& result,
                 uint64_t n);  // caller holds mu_
  std::string redact(const Target& t, std::string text) const;

  NotifierOptions options_;
  boost::asio::io_context ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::vector<Target> targets_;
  uint64_t last_event_id_ = 0;  // guarded by mu_
  bool started_ = false, stopped_ = false;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> counts_;  // guarded
};

}  // namespace sluice::notify
