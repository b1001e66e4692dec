// Helpers for the example-service tests: child processes, a raw HTTP/1.1 client with
// keep-alive, Prometheus text lookup, temp dirs and bounded polling.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace sluice::testing {

// A child process in its own process group; killed (SIGKILL) and reaped by the destructor.
class ChildProcess {
 public:
  // `extra_env` entries are NAME=VALUE, added to the current environment. Output goes to
  // `log_path` (stderr too, unless `stderr_path` names another file).
  static Result<std::unique_ptr<ChildProcess>> spawn(const std::vector<std::string>& argv,
                                                     const std::vector<std::string>& extra_env,
                                                     const std::string& log_path,
                                                     const std::string& stderr_path = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Exit code (128+signal when killed), or nullopt if still running after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> exit_code_;
};

// Polls until `condition` holds or `timeout` passes; returns whether it held.
bool poll_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A new temp dir under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Starts an example service from sluice::test::bin_dir() with `--port 0 --port-file` and waits for the
// port (10 s).
struct Service {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
};
Result<Service> start_service(const std::string& binary, std::vector<std::string> args,
                              const std::vector<std::string>& env, const TempDir& dir,
                              const std::string& name);

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // keys lower-case
  std::string body;
};

// One TCP connection to 127.0.0.1:port, reused across requests (keep-alive).
class HttpConnection {
 public:
  static Result<std::unique_ptr<HttpConnection>> connect(int port);
  ~HttpConnection();
  Status send(const std::string& method, const std::string& target, const std::string& body = "");
  Result<HttpResult> receive(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  Result<HttpResult> request(const std::string& method, const std::string& target,
                             const std::string& body = "");

 private:
  explicit HttpConnection(int fd) : fd_(fd) {}
  int fd_;
  std::string buffer_;
};

// One request on a fresh connection.
Result<HttpResult> http(int port, const std::string& method, const std::string& target,
                        const std::string& body = "");

// Value of the first sample of `name` whose label set contains every `label_fragments`
// entry (e.g. `code="200"`), or nullopt.
std::optional<double> metric_value(const std::string& text, const std::string& name,
                                   const std::vector<std::string>& label_fragments = {});

std::vector<std::string> read_lines(const std::string& path);

// A free loopback TCP port (bound to port 0, then released).
int free_loopback_port();

}  // namespace sluice::testing
