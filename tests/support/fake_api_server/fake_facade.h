// A scripted, in-memory ControlFacade for the API tests, the CLI tests, the dashboard test and
// bench_api. It is test-only: the product never links it.
//
// Rollouts follow a small canary state machine driven by the verbs and by tick():
// steps alternate setWeight and pause; promote advances past a pause (full=1 finishes),
// abort -> Degraded (aborted), retry -> Progressing from step 0, pause/resume, undo.
// tick() advances every Progressing rollout with "autoAdvance": true by one step.
// Every change appends an event (ids from 1) and notifies subscribers synchronously, then the
// object watchers with the rollout as it is after the change.
// Thread-safe (one mutex); subscriber callbacks run without the mutex held.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "controller/facade.h"

namespace sluice::testing {

class FakeFacade final : public controller::ControlFacade {
 public:
  FakeFacade();

  // A canary rollout. phase: "Progressing", "Paused", "Healthy" or "Degraded".
  // Steps: setWeight 20, pause, setWeight 50, pause, setWeight 100.
  void add_canary(const std::string& name, const std::string& phase, int step_index,
                  bool auto_advance = false, const std::string& commit = "c0ffee1234567890");
  void abort_with(const std::string& name, const std::string& message, nlohmann::json evidence);
  // Appends an event for `rollout` and notifies subscribers; returns its id.
  uint64_t add_event(const std::string& rollout, const std::string& type,
                     const std::string& message);
  void set_ready(bool ready) { ready_ = ready; }
  void tick();

  int refresh_requests() const { return refresh_requests_.load(); }
  std::string last_actor() const;
  size_t subscriber_count() const;

  // ControlFacade
  nlohmann::json list_rollouts() const override;
  std::optional<nlohmann::json> get_rollout(const std::string& name) const override;
  std::optional<nlohmann::json> history(const std::string& name) const override;
  nlohmann::json events(const std::string& rollout, uint64_t after_id) const override;
  std::unique_ptr<controller::Subscription> subscribe(const std::string& rollout,
                                                      controller::EventCallback on_event) override;
  std::unique_ptr<controller::Subscription> watch_rollouts(
      const std::string& rollout, controller::EventCallback on_change) override;
  void command(const controller::VerbRequest& request, controller::VerbCallback done) override;
  nlohmann::json source() const override;
  void sync(std::function<void(Result<nlohmann::json>)> done) override;
  void request_refresh(const std::string& reason) override;
  bool ready() const override { return ready_; }
  std::string metrics_text() const override;
  // Answers with on_logs when set (the request it was given is kept in last_logs_request).
  Result<std::vector<runtime::InstanceLog>> logs(
      const controller::LogsRequest& request) const override {
    last_logs_request = request;
    if (!on_logs) return ControlFacade::logs(request);
    return on_logs(request);
  }
  std::function<Result<std::vector<runtime::InstanceLog>>(const controller::LogsRequest&)>
      on_logs;
  mutable controller::LogsRequest last_logs_request;

 private:
  struct Subscriber {
    std::string rollout;
    std::shared_ptr<controller::EventCallback> callback;
    bool objects = false;  // watch_rollouts()
  };
  class FakeSubscription;

  // Caller holds mu_. Returns the event to publish after unlocking.
  nlohmann::json record_locked(const std::string& rollout, const std::string& type,
                               const std::string& message, const std::string& actor = "",
                               nlohmann::json evidence = nullptr);
  void publish(const nlohmann::json& event);
  void apply_step_locked(nlohmann::json& r);
  void finish_locked(nlohmann::json& r);

  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> rollouts_;
  std::map<std::string, nlohmann::json> history_;
  std::vector<nlohmann::json> events_;
  std::map<uint64_t, Subscriber> subscribers_;
  uint64_t next_subscriber_ = 1;
  uint64_t next_event_id_ = 1;
  std::string last_actor_;
  std::atomic<bool> ready_{true};
  std::atomic<int> refresh_requests_{0};
};

}  // namespace sluice::testing
