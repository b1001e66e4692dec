// Shared set-up for the runtime integration tests: a temp dir (state + checkout), an io_context
// driven by the test thread, a LocalProcessRuntime with short back-off, and a spec builder for
// sluice-testsvc instances.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "runtime/local_process_runtime.h"

namespace sluice::runtime::testing {

std::string testsvc_path();
std::string host_path();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};
// Blocking GET/POST to 127.0.0.1:port with a 1 s timeout.
HttpReply http_call(int port, const std::string& path, const std::string& method = "GET");

manifests::Probe http_probe(const std::string& path, int period_ms = 50, int failure_threshold = 3);

class RuntimeFixture {
 public:
  RuntimeFixture();
  ~RuntimeFixture();  // kills every observed instance's process group

  // A spec running sluice-testsvc with `args` (--port $(PORT) is added), one port "http".
  RevisionSpec spec(std::vector<std::string> args, const std::string& rollout = "svc",
                    int64_t revision = 1) const;

  // Runs the io_context until pred() holds or timeout passes; returns pred().
  bool wait_for(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void run_for(std::chrono::milliseconds d);

  std::vector<InstanceStatus> observe(const std::string& rollout = "svc") const {
    return rt->observe(rollout);
  }
  std::optional<InstanceStatus> only(const std::string& rollout = "svc") const;

  // Replaces the runtime by a new one on the same state dir (a controller restart).
  void restart_runtime();

  TempDir dir;
  std::string state_dir;
  std::string checkout_dir;
  LocalRuntimeOptions options;
  boost::asio::io_context io;
  std::unique_ptr<LocalProcessRuntime> rt;
};

}  // namespace sluice::runtime::testing
