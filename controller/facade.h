// What the API layer (api/) and the CLI's server mode see of the controller.
//
// JSON shapes are the contract in ../shared/reference/api.md (rollout object, history, events,
// source). All methods are thread-safe: reads return immutable snapshots published by the
// controller strand; commands are posted to the strand and answer through a callback that may run
// on any thread (the caller re-posts to its own executor).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "runtime/runtime.h"

namespace sluice::controller {

enum class Verb { kPromote, kAbort, kRetry, kPause, kResume, kUndo };
const char* verb_name(Verb verb);  // "promote", "abort", ...

struct VerbRequest {
  std::string rollout;
  Verb verb = Verb::kPromote;
  bool full = false;                // promote ?full=1
  std::optional<int64_t> revision;  // undo ?revision=N
  std::string actor;                // who asked: token name, "cli", "anonymous"
};

// GET /api/v1/rollouts/{name}/logs: which instance output to read.
struct LogsRequest {
  std::string rollout;
  std::optional<int64_t> revision;  // absent: every revision in history with logs
  std::string instance;             // "" = every instance
  size_t tail_lines = 0;            // 0 = as much as the byte bound allows
  size_t max_bytes = 1 << 20;       // for all instances together
  std::map<std::string, uint64_t> after;  // follow: runtime::LogQuery::after
};

// The result of a verb: the rollout object after the verb, or an error
// (kNotFound -> 404, kFailedPrecondition -> 409, kInvalidArgument -> 400).
using VerbCallback = std::function<void(Result<nlohmann::json>)>;

// One recorded decision, as shown by /events: {"id", "time", "rollout", "revision", "type",
// "from", "to", "reason", "message", "actor", "evidence": {...}}.
using EventCallback = std::function<void(const nlohmann::json& event)>;

class Subscription {
 public:
  virtual ~Subscription() = default;  // unsubscribes
};

class ControlFacade {
 public:
  virtual ~ControlFacade() = default;

  virtual nlohmann::json list_rollouts() const = 0;  // {"items": [...]}
  virtual std::optional<nlohmann::json> get_rollout(const std::string& name) const = 0;
  virtual std::optional<nlohmann::json> history(const std::string& name) const = 0;  // {"items"}
  // Events with id > after_id, oldest first. rollout "" = all rollouts.
  virtual nlohmann::json events(const std::string& rollout, uint64_t after_id) const = 0;
  // Calls `on_event` for every new event of `rollout` ("" = all) until the Subscription dies.
  virtual std::unique_ptr<Subscription> subscribe(const std::string& rollout,
                                                  EventCallback on_event) = 0;
  // Calls `on_change` with {"type": "MODIFIED"|"DELETED", "rollout": <rollout object>} each time
  // a published read model changes `rollout` ("" = every rollout), in publish order. The object
  // is what get_rollout() answers from then on, so a watcher that draws it never shows a state
  // older than the events it has seen (GET /api/v1/stream/rollouts). Without an override the
  // stream only carries the object as it was when it started.
  virtual std::unique_ptr<Subscription> watch_rollouts(const std::string& rollout,
                                                       EventCallback on_change) {
    (void)rollout;
    (void)on_change;
    return nullptr;
  }

  virtual void command(const VerbRequest& request, VerbCallback done) = 0;

  // Instance output, oldest instance first (runtime::Runtime::read_logs), including instances
  // that are gone while their revision is in history. kNotFound names what is unknown: the
  // rollout, a revision not in its history, or an instance of neither. Any thread; reads files.
  virtual Result<std::vector<runtime::InstanceLog>> logs(const LogsRequest& request) const {
    (void)request;
    return unavailable("logs are not available from this server");
  }

  virtual nlohmann::json source() const = 0;  // GET /api/v1/source
  // Fetch now; `done` runs once the fetched commit has been applied (or failed).
  virtual void sync(std::function<void(Result<nlohmann::json>)> done) = 0;
  // A verified webhook asked for a refresh: queue a coalesced fetch and return at once.
  virtual void request_refresh(const std::string& reason) = 0;

  // /readyz: journal replayed, first snapshot applied, and every record durable.
  virtual bool ready() const = 0;
  // Why ready() is false, for /readyz's body ("" when ready or when there is nothing to say).
  virtual std::string not_ready_reason() const { return ""; }
  // Prometheus text exposition of the controller's metrics (rollout phase/info, reconcile
  // durations, git fetches, analysis measurements, router requests).
  virtual std::string metrics_text() const = 0;
};

}  // namespace sluice::controller
