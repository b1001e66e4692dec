// Starts a real HAProxy (Debian 2.6) in the foreground for a test: generated config in a temp
// dir, admin socket there, frontend on a free loopback port. Killed by the destructor.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

extern char** environ;

namespace sluice::testing {

inline uint16_t free_loopback_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

class HaproxyProcess {
 public:
  // With `header_routes`, the config declares what setHeaderRoute needs (as in
  // examples/haproxy/haproxy.cfg): the map <backend>-header-routes.map (an empty file in the temp
  // dir) looked up over req.hdrs in the frontend, and the backend <backend>-canary.
  explicit HaproxyProcess(const std::string& backend = "orders", bool header_routes = true)
      : backend_(backend), header_routes_(header_routes) {
    start_in_new_dir();
  }
  ~HaproxyProcess() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // A process whose haproxy.cfg is config(port, socket): the frontend's free loopback port and the
  // admin socket path (for benchmarks that compare configurations).
  using ConfigWriter = std::function<std::string(uint16_t port, const std::string& socket)>;
  explicit HaproxyProcess(ConfigWriter config) : config_(std::move(config)) {
    start_in_new_dir();
  }
  HaproxyProcess(const HaproxyProcess&) = delete;
  HaproxyProcess& operator=(const HaproxyProcess&) = delete;

  bool ready() const { return ready_; }
  // Stops HAProxy (its runtime socket stops answering); restart() starts it again on the same
  // socket path with an empty backend, as after a real restart.
  void stop_process() {
    stop();
    ready_ = false;
  }
  bool restart() {
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) start();
    return ready_;
  }
  uint16_t port() const { return port_; }
  const std::string& socket() const { return socket_; }
  const std::string& dir() const { return dir_; }
  std::string header_map() const { return dir_ + "/" + backend_ + "-header-routes.map"; }

 private:
  void start_in_new_dir() {
    char tmpl[] = "/tmp/sluice-haproxy-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    socket_ = dir_ + "/admin.sock";
    for (int attempt = 0; attempt < 3 && !ready_; ++attempt) start();
  }
  void start() {
    port_ = free_loopback_port();
    const std::string cfg = dir_ + "/haproxy.cfg";
    if (config_) {
      std::ofstream(cfg) << config_(port_, socket_);
    } else {
      std::ofstream out(cfg);
      out << "global\n"
          << "  stats socket " << socket_ << " mode 600 level admin\n"
          << "  nbthread 1\n"
          << "defaults\n"
          << "  mode http\n"
          << "  timeout connect 2s\n"
          << "  timeout client 10s\n"
          << "  timeout server 10s\n"
          << "frontend fe\n"
          << "  bind 127.0.0.1:" << port_ << "\n";
      if (header_routes_) {
        out << "  http-request set-var(txn.sluice_backend) req.hdrs,map_reg(" << header_map()
            << ")\n"
            << "  use_backend %[var(txn.sluice_backend)] if { var(txn.sluice_backend) -m found }\n";
      }
      out << "  default_backend " << backend_ << "\n";
      for (std::string b : {backend_, backend_ + "-canary"}) {
        if (b != backend_ && !header_routes_) continue;
        out << "backend " << b << "\n"
            << "  balance roundrobin\n"
            << "  http-response set-header X-Sluice-Server %s\n"
            << "  http-response set-header X-Sluice-Backend " << b << "\n";
      }
    }
    if (header_routes_ && !config_) std::ofstream(header_map(), std::ios::app).flush();
    const std::string log = dir_ + "/haproxy.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::string arg0 = "haproxy", arg1 = "-f";
    std::string cfg_arg = cfg;
    char* argv[] = {arg0.data(), arg1.data(), cfg_arg.data(), nullptr};
    pid_ = -1;
    const int rc = posix_spawnp(&pid_, "haproxy", &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // exited (port taken meanwhile?): caller retries
        return;
      }
      if (socket_accepts()) {
        ready_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
  }

  bool socket_accepts() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socket_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }

  std::string backend_;
  bool header_routes_ = true;
  ConfigWriter config_;
  std::string dir_;
  std::string socket_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace sluice::testing
