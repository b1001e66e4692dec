// The built-in router as its own process (issue 19: "the data plane outlives the controller").
//
// `sluice router --state-dir DIR` hosts a BuiltinRouter and answers control requests on the
// local socket DIR/router.sock (mode 0600: only its owner may connect). `sluice serve` drives it
// through RemoteRouter, an implementation of the same Router interface, and starts it when none
// answers. The router keeps the tables it was given in DIR/tables.json and applies them again
// when it starts, so its front doors come back by themselves; while the controller is down,
// restarting or being upgraded, the router keeps serving with the last tables and no client
// connection is touched. (Like HAProxy or Envoy under a control plane: the data plane is not
// the controller's thread.)
//
// Protocol: one request per connection, one JSON object on one line; the answer is one JSON
// object, then the router closes: {"ok":true,...} or {"ok":false,"error":"..."}. Ops: ping,
// apply {table}, remove {rollout}, drain {rollout, endpoint}, stats {rollout, revision,
// windowMs}, samples {rollout, revision, kind, windowMs}, metrics, tables, listenPort
// {rollout, preview}. Every request carries "protocol": 1; another number is refused.
//
// Files in DIR: router.sock, router.pid ("<pid> <start ticks>"), router.lock (flock: one router
// per dir), tables.json, router.log (the process's stdout/stderr, written by whoever starts it).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/status.h"
#include "traffic/builtin_router.h"
#include "traffic/router.h"

namespace sluice::traffic {

inline constexpr int kRouterProtocol = 1;

std::string router_socket_path(const std::string& dir);
std::string router_pid_path(const std::string& dir);

// The server side, inside `sluice router`. Threads: one control thread (accept, answer,
// close; requests are small and rare), besides the BuiltinRouter's own I/O threads.
class RouterControlServer {
 public:
  RouterControlServer(BuiltinRouter& router, Filesystem& fs, std::string dir);
  ~RouterControlServer();
  RouterControlServer(const RouterControlServer&) = delete;
  RouterControlServer& operator=(const RouterControlServer&) = delete;

  // Takes the dir's lock (another live router there is an error naming its pid), applies the
  // tables kept in tables.json (a table that no longer applies is reported in the returned
  // problems, not fatal), listens on router.sock, writes router.pid and starts answering.
  Result<std::vector<std::string>> start();
  // Stops answering (the front doors stay until the BuiltinRouter is destroyed). Idempotent.
  void stop();

  // Called on the control thread when the socket file is removed or replaced (the router
  // cannot be reached any more); `sluice router` stops. Set before start().
  void on_orphaned(std::function<void()> fn) { on_orphaned_ = std::move(fn); }

  // One request line -> one answer (public for tests and the fuzzer; no I/O but tables.json).
  nlohmann::json handle(const std::string& request_line);

 private:
  void serve_loop();
  Status save_tables();

  BuiltinRouter& router_;
  Filesystem& fs_;
  std::string dir_;
  int lock_fd_ = -1;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  uint64_t socket_inode_ = 0;
  std::function<void()> on_orphaned_;
  std::thread thread_;
  std::mutex mu_;  // tables_ (handle() runs on the control thread; tests call it directly)
  std::map<std::string, RouteTable> tables_;
};

struct RemoteRouterOptions {
  std::string dir;                      // the router's state dir
  std::vector<std::string> start_argv;  // how to start one: {"/path/sluice", "router", ...}
  Duration call_timeout{2'000};         // each connect/send/receive of a control request
  Duration start_timeout{10'000};       // a started router must answer ping within this
};

// The client side, inside `sluice serve`: a Router whose tables live in the router process.
// Every call is one blocking exchange bounded by call_timeout (like HAProxy's runtime API).
// When the router does not answer, RemoteRouter starts a new one (at most once per call),
// applies every table it last applied, and retries; an apply that still fails is an error, so
// the controller does not advance a step whose weight did not reach the router.
class RemoteRouter final : public Router {
 public:
  explicit RemoteRouter(RemoteRouterOptions options);
  ~RemoteRouter() override;  // leaves the router running, by design

  // Adopts the router that answers on the socket, or starts one. Errors name the log file.
  Status start();

  Status apply(const RouteTable& table) override;
  void remove(std::string_view rollout) override;
  void drain_endpoint(std::string_view rollout, const Endpoint& endpoint) override;
  std::optional<VersionStats> stats(std::string_view rollout, int64_t revision,
                                    Duration window) const override;
  std::vector<double> samples(std::string_view rollout, int64_t revision, SampleKind kind,
                              Duration window) const override;

  std::string metrics_text() const;
  std::optional<uint16_t> listen_port(std::string_view rollout, bool preview = false) const;
  // The pid of the router process, as it answered the last ping (0 before start()).
  int router_pid() const { return router_pid_.load(); }

 private:
  Result<nlohmann::json> call(nlohmann::json request, bool may_restart) const;
  Result<nlohmann::json> exchange(const nlohmann::json& request) const;
  Status start_router() const;

  RemoteRouterOptions options_;
  mutable std::mutex mu_;  // tables_, child_
  std::map<std::string, RouteTable> tables_;  // what the controller last applied, per rollout
  mutable int child_ = 0;                      // a router this process started (reaped)
  mutable std::atomic<int> router_pid_{0};
};

}  // namespace sluice::traffic
