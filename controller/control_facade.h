// ControllerFacade: the thread-safe face of a Controller for the API (controller/facade.h).
//
// Reads return the last ReadModel published by the controller thread (an immutable snapshot
// swapped under a mutex). Verbs are posted to the controller's Scheduler; `done` runs on the
// controller thread. Events are copied into a bounded in-memory log for /events and fanned out
// to subscribers (SSE) on the controller thread; after each publish, object watchers get every
// rollout object that changed (so what they draw is never older than the events they saw).
// source()/sync()/request_refresh() delegate to injectable hooks that the lead wires to gitops.
//
// Construct and destroy on the controller thread (it installs the controller's callbacks).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "controller/controller.h"
#include "controller/facade.h"

namespace sluice::controller {

struct SourceHooks {
  std::function<nlohmann::json()> source;
  std::function<void(std::function<void(Result<nlohmann::json>)>)> sync;
  std::function<void(const std::string&)> request_refresh;
};

class ControllerFacade final : public ControlFacade {
 public:
  ControllerFacade(Controller& controller, Scheduler& scheduler, size_t event_limit = 10'000);
  ~ControllerFacade() override;

  void set_source_hooks(SourceHooks hooks);
  void set_ready(bool ready);

  nlohmann::json list_rollouts() const override;
  std::optional<nlohmann::json> get_rollout(const std::string& name) const override;
  std::optional<nlohmann::json> history(const std::string& name) const override;
  nlohmann::json events(const std::string& rollout, uint64_t after_id) const override;
  std::unique_ptr<Subscription> subscribe(const std::string& rollout,
                                          EventCallback on_event) override;
  std::unique_ptr<Subscription> watch_rollouts(const std::string& rollout,
                                               EventCallback on_change) override;
  void command(const VerbRequest& request, VerbCallback done) override;
  Result<std::vector<runtime::InstanceLog>> logs(const LogsRequest& request) const override;
  nlohmann::json source() const override;
  void sync(std::function<void(Result<nlohmann::json>)> done) override;
  void request_refresh(const std::string& reason) override;
  bool ready() const override;
  std::string not_ready_reason() const override;
  std::string metrics_text() const override;

 private:
  struct Subscriber {
    std::string rollout;
    bool objects = false;  // watch_rollouts(): rollout objects after publish, not events
    EventCallback callback;
    bool active = true;  // guarded by mu_
  };
  class SubscriptionImpl;
  void on_event(const nlohmann::json& event);
  // Swaps in `model`, then tells object watchers about each rollout it changed or removed.
  void on_publish(std::shared_ptr<const ReadModel> model);
  std::unique_ptr<Subscription> add_subscriber(const std::string& rollout, bool objects,
                                               EventCallback callback);

  Controller& controller_;
  Scheduler& scheduler_;
  size_t event_limit_;
  mutable std::mutex mu_;
  std::shared_ptr<const ReadModel> model_ = std::make_shared<ReadModel>();
  std::deque<nlohmann::json> events_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;
  SourceHooks hooks_;
  bool ready_ = false;
};

}  // namespace sluice::controller
