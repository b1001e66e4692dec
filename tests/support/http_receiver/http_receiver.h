// A real HTTP/1.1 receiver on 127.0.0.1:<port 0> for notification and webhook tests: it records
// every request (method, target, headers, body, arrival time) and answers as a per-test script
// says: a status, or no answer at all until the receiver stops (a hanging target).
//
// Threads: one accept thread and one thread per connection, all joined by the destructor (which
// first closes every open connection). seen() may be called from any thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::chrono::steady_clock::time_point at;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

struct ReceiverAnswer {
  int status = 200;
  bool hang = false;  // read the request, never answer (until the receiver stops)
};

class HttpReceiver {
 public:
  // `script` is asked, per request, with the request and how many came before it.
  using Script = std::function<ReceiverAnswer(const ReceivedRequest&, size_t index)>;
  explicit HttpReceiver(Script script = {});
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<ReceivedRequest> seen() const;
  // Blocks until at least `n` requests arrived or `timeout` passed; returns whether they did.
  bool wait_for(size_t n, std::chrono::milliseconds timeout) const;

 private:
  void accept_loop();
  void serve(boost::asio::ip::tcp::socket socket);

  Script script_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable arrived_;
  std::vector<std::thread> connections_;  // guarded by mu_
  std::set<int> open_fds_;                // guarded by mu_
  std::vector<ReceivedRequest> seen_;     // guarded by mu_
};

}  // namespace sluice::testing
