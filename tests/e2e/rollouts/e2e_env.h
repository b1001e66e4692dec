// End-to-end environment: a real Git repository in a temp dir, the real `sluice serve` on it,
// the real CLI, and the real example services (bin/orders-api, bin/orders-load). Everything is
// on loopback and bounded in time.
//
// Thread-compatible: one test thread uses an E2eEnv.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/process/test_process.h"
#include "tests/support/rabbitmq/rabbitmq_broker.h"  // free_loopback_port()

namespace sluice::testing {

struct CliResult {
  int exit_code = -1;  // -1: did not finish within its timeout (killed)
  std::string out;
  std::string err;
  nlohmann::json json() const;  // stdout parsed; null when it is not JSON
};

class E2eEnv;

// A Rollout of orders-api with `replicas: 2` behind a front door on 127.0.0.1:front_port,
// carrying this environment's marker; `strategy` is the YAML under `spec.strategy:`, indented
// by four spaces (e.g. "    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}").
std::string orders_api_manifest(const E2eEnv& env, const std::string& name,
                                const std::string& version, int front_port,
                                const std::string& strategy);

class E2eEnv {
 public:
  E2eEnv();
  ~E2eEnv();  // stops serve and every instance it started (they outlive serve by design)
  E2eEnv(const E2eEnv&) = delete;
  E2eEnv& operator=(const E2eEnv&) = delete;

  const std::string& dir() const { return dir_.path(); }
  const std::string& repo() const { return repo_; }
  const std::string& state_dir() const { return state_; }  // serve's --state-dir
  // NAME=VALUE that every instance of this environment carries (put it in the manifests' env).
  const std::string& marker_value() const { return dir_.path(); }
  int api_port() const { return api_port_; }
  std::string api_url() const { return "http://127.0.0.1:" + std::to_string(api_port_); }

  // Writes a file below the repository (directories created) and commits everything; returns
  // the new HEAD sha.
  void write(const std::string& relative_path, const std::string& content);
  std::string commit(const std::string& message);

  // Starts `sluice serve` (fresh or restarted on the same state dir) and waits until its API
  // answers (bounded). Returns false with the log tail in `why`.
  // `binary`: another sluice executable than the build's (an upgrade).
  bool start_serve(std::string& why, const std::string& binary = "");
  // What the next start_serve() passes: --repo (default: repo(), the work repository) and more
  // arguments after the usual ones (e.g. {"--config", file}).
  void set_serve_repo(std::string url) { serve_repo_ = std::move(url); }
  void set_serve_args(std::vector<std::string> extra) { serve_args_ = std::move(extra); }
  // serve's --poll (default "1s").
  void set_serve_poll(std::string poll) { serve_poll_ = std::move(poll); }
  // serve's log of its latest start.
  std::string serve_log_path() const;
  void kill_serve(int sig);  // signal and reap serve
  bool serve_running();

  // `sluice ARGS... --server <api>`; output captured. offline_cli: without --server (lint, plan).
  CliResult cli(std::vector<std::string> args,
                std::chrono::milliseconds timeout = std::chrono::seconds(120));
  CliResult offline_cli(std::vector<std::string> args);
  // GET /api/v1/rollouts/NAME; null when it does not answer 200.
  nlohmann::json rollout(const std::string& name);
  // Polls rollout(name) until `pred` holds (bounded); returns the last object seen.
  nlohmann::json wait_rollout(const std::string& name,
                              const std::function<bool(const nlohmann::json&)>& pred,
                              std::chrono::milliseconds timeout, bool* held = nullptr);
  // Pids of the running processes that carry this environment's marker, by SLUICE_INSTANCE.
  std::map<std::string, pid_t> instance_pids();
  // The ports (PORT_<NAME> of their environment) of this environment's running instances of
  // `version` (their SLUICE_VERSION).
  std::vector<int> instance_ports(const std::string& version, const std::string& port = "HTTP");
  // The built-in router process serve started (state/router/router.pid); 0 when none.
  pid_t router_pid();

 private:
  void git(const std::vector<std::string>& args);
  CliResult run_cli(std::vector<std::string> args, std::chrono::milliseconds timeout);
  int kill_instances();

  TempDir dir_;
  std::string repo_;
  std::string state_;
  int api_port_ = 0;
  int serve_runs_ = 0;
  std::unique_ptr<ChildProcess> serve_;
  std::string serve_repo_;
  std::vector<std::string> serve_args_;
  std::string serve_poll_ = "1s";
};

// `orders-load` against a front door, reporting what clients saw (see its header comment).
class LoadGenerator {
 public:
  LoadGenerator(const std::string& dir, int front_port, int rps, int connections);
  ~LoadGenerator();
  nlohmann::json stats() const;  // the latest stats file (empty object before the first)
  nlohmann::json stop();         // SIGTERM, wait, final summary

 private:
  std::string stats_file_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace sluice::testing
