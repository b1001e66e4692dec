// Test helpers for the API integration tests: a bounded HTTP/1.1 connection (every read has a
// deadline) and child processes spawned with posix_spawn (argv, no shell), killed at the end.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

extern char** environ;

namespace sluice::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

class TestConnection {
 public:
  explicit TestConnection(unsigned short port) : stream_(ioc_) {
    stream_.expires_after(std::chrono::seconds(5));
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    error_ = run([&](auto h) { stream_.async_connect(ep, h); });
  }

  bool connected() const { return !error_; }

  beast::error_code write(const std::string& bytes) {
    stream_.expires_after(std::chrono::seconds(5));
    return run([&](auto h) { asio::async_write(stream_, asio::buffer(bytes), h); });
  }

  std::optional<bhttp::response<bhttp::string_body>> read_response(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    bhttp::response_parser<bhttp::string_body> parser;
    stream_.expires_after(timeout);
    auto ec = run([&](auto h) { bhttp::async_read(stream_, buffer_, parser, h); });
    if (ec) return std::nullopt;
    return parser.release();
  }

  // Reads the response header of a streaming answer; the body stays for read_until().
  std::optional<bhttp::response<bhttp::empty_body>> read_stream_header() {
    parser_.emplace();
    parser_->skip(true);
    stream_.expires_after(std::chrono::seconds(5));
    auto ec = run([&](auto h) { bhttp::async_read_header(stream_, buffer_, *parser_, h); });
    if (ec) return std::nullopt;
    // Whatever the header read pulled in beyond the header is body.
    text_.append(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    buffer_.consume(buffer_.size());
    return parser_->get();
  }

  // Reads raw bytes until `needle` appears in the accumulated text or the deadline passes.
  bool read_until(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (text_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      if (!read_some(left)) return false;
    }
    return true;
  }

  // True when the peer closes the connection within `timeout`.
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      stream_.expires_after(left);
      std::array<char, 1024> chunk{};
      size_t n = 0;
      auto ec = run([&](auto h) {
        stream_.async_read_some(asio::buffer(chunk), [&n, h](beast::error_code e, size_t got) {
          n = got;
          h(e);
        });
      });
      if (ec == beast::error::timeout) return false;
      if (ec) return true;  // EOF or reset
      text_.append(chunk.data(), n);
    }
  }

  std::string& text() { return text_; }

 private:
  bool read_some(std::chrono::milliseconds timeout) {
    std::array<char, 4096> chunk{};
    size_t n = 0;
    stream_.expires_after(timeout);
    auto ec = run([&](auto h) {
      stream_.async_read_some(asio::buffer(chunk), [&n, h](beast::error_code e, size_t got) {
        n = got;
        h(e);
      });
    });
    if (ec) return false;
    text_.append(chunk.data(), n);
    return true;
  }

  template <typename Start>
  beast::error_code run(Start&& start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::response_parser<bhttp::empty_body>> parser_;
  std::string text_;
  beast::error_code error_;
};

inline std::string http_get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
}

// A child process with its stdout (and, when asked, its stderr) captured through a pipe.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv,
               const std::vector<std::string>& extra_env = {}, bool capture_stderr = false) {
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    if (capture_stderr) posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (kv.rfind("SLUICE_", 0) == 0) continue;  // tests choose these explicitly
      env_strings.push_back(kv);
    }
    for (auto& kv : extra_env) env_strings.push_back(kv);
    std::vector<char*> envp;
    for (auto& kv : env_strings) envp.push_back(const_cast<char*>(kv.c_str()));
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, args.data(), envp.data()) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_fd_ = fds[0];
  }

  ~ChildProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
  }

  bool started() const { return pid_ > 0; }

  // Reads stdout until a full line is available or the deadline passes.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (size_t nl = out_.find('\n'); nl != std::string::npos) {
        std::string line = out_.substr(0, nl);
        out_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !pump(static_cast<int>(left.count()))) return std::nullopt;
    }
  }

  // Waits for exit (bounded); collects all stdout. Returns the exit code, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pump(20);
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        while (pump(0)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }

  void terminate() {
    if (pid_ > 0 && !exited_) kill(pid_, SIGTERM);
  }

  const std::string& output() const { return out_; }

 private:
  // Reads what is available within timeout_ms; false on EOF/timeout with nothing read.
  bool pump(int timeout_ms) {
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[4096];
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) return false;
    out_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  std::string out_;
};

}  // namespace sluice::testing
