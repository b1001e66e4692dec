// A tiny in-process HTTP server for tests: one thread per connection, bounded, loopback only.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

struct TestRequest {
  std::string method;
  std::string target;
  std::string body;
  std::string authorization;
};

struct TestResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  int delay_ms = 0;  // wait (interruptibly) before answering
};

class TestHttpServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;
  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

 private:
  void accept_loop();
  void serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

// A port that was free a moment ago (for servers that cannot report a kernel-assigned port).
int pick_free_port();

}  // namespace sluice::testing
