// A real RabbitMQ broker for tests, started per docs in shared/notes/real-servers.md:
// a unique node name, loopback-only listeners on kernel-picked free ports, its own epmd port
// (so stopping it never disturbs another test's broker) and data in a temp dir owned by the
// rabbitmq user. The destructor stops the node (`rabbitmqctl -n NODE stop`), kills the epmd it
// started and removes the temp dir, also when the test failed.
//
// Threads: use from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "tests/support/process/test_process.h"  // free_loopback_port

namespace sluice::testing {

struct RabbitBrokerOptions {
  // Also enable rabbitmq_management (HTTP API on management_port(), guest:guest).
  bool management = false;
  // Start-up budget. SLUICE_RABBITMQ_START_TIMEOUT_S overrides it when set.
  std::chrono::seconds start_timeout{60};
};

class RabbitBroker {
 public:
  // Starts the broker and returns once an AMQP login as guest succeeds (and, with management,
  // GET /api/overview answers 200). Fails with the reason and the tail of the broker's output.
  static Result<std::unique_ptr<RabbitBroker>> start(const RabbitBrokerOptions& options = {});
  ~RabbitBroker();
  RabbitBroker(const RabbitBroker&) = delete;
  RabbitBroker& operator=(const RabbitBroker&) = delete;

  int amqp_port() const { return amqp_port_; }
  int management_port() const { return management_port_; }
  // amqp://guest:guest@127.0.0.1:<port>/
  std::string amqp_url() const;
  const std::string& node() const { return node_; }
  const std::string& data_dir() const { return dir_; }

  // `rabbitmqctl stop_app` / `start_app`: the broker goes away (every client connection is
  // closed) and comes back with its durable queues and persistent messages, while the node
  // keeps running. For reconnect tests.
  Status stop_app();
  Status start_app();

  // Idempotent; the destructor calls it.
  Status stop();

 private:
  RabbitBroker() = default;
  Status wait_ready(std::chrono::seconds timeout, bool management);
  std::vector<std::string> server_env() const;
  std::string output_tail() const;

  std::string dir_;
  std::string node_;
  int amqp_port_ = 0;
  int dist_port_ = 0;
  int epmd_port_ = 0;
  int management_port_ = 0;
  pid_t server_pid_ = -1;
  bool stopped_ = false;
};

}  // namespace sluice::testing
