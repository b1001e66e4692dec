// A small blocking HTTP/1.1 server for the example services: loopback only, one thread per
// connection, keep-alive, Content-Length bodies (no chunked requests). Deliberately free of
// Asio/Beast so the examples compile in seconds.
//
// Threads: listen()/start()/shutdown() are called by the owner (main thread). The handler runs
// on connection threads and must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"

namespace sluice::examples {

struct HttpRequest {
  std::string method;
  std::string target;                          // as sent, with query
  std::string path;                            // target without the query
  std::map<std::string, std::string> headers;  // keys lower-case
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  explicit HttpServer(HttpHandler handler);
  // Shuts down (if not done) and waits for every connection thread to end.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds 127.0.0.1:port (0 = kernel-assigned).
  Status listen(uint16_t port);
  uint16_t port() const { return port_; }
  // Starts the accept thread.
  void start();
  // Stops accepting, closes idle keep-alive connections, lets requests in progress finish
  // (their responses carry `Connection: close`). Returns true if every connection ended within
  // `grace`.
  bool shutdown(std::chrono::milliseconds grace);

  // Connections currently open (for tests and metrics).
  int open_connections() const;

 private:
  void accept_loop();
  void serve(int fd);

  HttpHandler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int open_ = 0;  // guarded by mu_
};

const char* http_reason(int status);

}  // namespace sluice::examples
