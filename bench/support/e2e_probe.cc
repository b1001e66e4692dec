#include "bench/support/e2e_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "bench/support/loopback_http.h"

namespace sluice::bench {

namespace {

bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// The value of header `lower_name` (with its ':') in `head`, trimmed; empty when absent.
std::string header_value(const std::string& head, const std::string& lower_name) {
  const size_t at = find_header(head, head.size(), lower_name);
  if (at == std::string::npos) return "";
  const size_t end = std::min(head.find("\r\n", at), head.size());
  std::string value = head.substr(at, end - at);
  while (!value.empty() && value.front() == ' ') value.erase(0, 1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.pop_back();
  return value;
}

}  // namespace

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t index = static_cast<size_t>(std::max(rank, 1.0)) - 1;
  return values[std::min(index, values.size() - 1)];
}

HttpAnswer http_call(unsigned short port, const std::string& method, const std::string& target,
                     const std::vector<std::string>& headers, const std::string& body) {
  HttpAnswer answer;
  const int fd = connect_loopback(port);
  if (fd < 0) return answer;
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string buf;
  if (send_all(fd, request)) answer.status = read_response(fd, buf, nullptr, &answer.body);
  close(fd);
  return answer;
}

// ---- VersionProbe ----

VersionProbe::VersionProbe(unsigned short port, int rate, int connections,
                           std::string marked_version)
    : port_(port), connections_(connections), marked_version_(std::move(marked_version)) {
  const double per_connection = static_cast<double>(rate) / connections;
  for (int c = 0; c < connections; ++c) {
    threads_.emplace_back([this, c, per_connection] { run(c, per_connection); });
  }
}

VersionProbe::~VersionProbe() {
  stop_ = true;
  for (auto& t : threads_) t.join();
}

void VersionProbe::run(int index, double per_connection_rate) {
  const auto interval = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / per_connection_rate));
  // Offset connections so that sends interleave evenly.
  auto next = std::chrono::steady_clock::now() + interval * index / connections_;
  const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  int fd = -1;
  std::string buf, head;
  while (!stop_) {
    std::this_thread::sleep_until(next);
    next += interval;
    // A slow answer must not be followed by a burst: skip the sends that are already late.
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + interval;
    if (fd < 0) {
      fd = connect_loopback(port_);
      buf.clear();
      if (fd < 0) {
        ++failures_;
        continue;
      }
    }
    const int64_t sent = steady_ns();
    const int status = send_all(fd, request) ? read_response(fd, buf, &head, nullptr) : 0;
    const int64_t received = steady_ns();
    if (status / 100 != 2) {
      ++failures_;
      close(fd);
      fd = -1;
      continue;
    }
    ++answered_;
    const bool marked = header_value(head, "x-version:") == marked_version_;
    std::lock_guard lock(mu_);
    answers_.push_back({sent, received, marked});
  }
  if (fd >= 0) close(fd);
}

void VersionProbe::clear() {
  std::lock_guard lock(mu_);
  answers_.clear();
}

std::vector<VersionProbe::Answer> VersionProbe::answers() const {
  std::vector<Answer> out;
  {
    std::lock_guard lock(mu_);
    out = answers_;
  }
  std::sort(out.begin(), out.end(),
            [](const Answer& a, const Answer& b) { return a.sent_ns < b.sent_ns; });
  return out;
}

bool VersionProbe::marked_since(int64_t since_ns) const {
  std::lock_guard lock(mu_);
  for (auto it = answers_.rbegin(); it != answers_.rend(); ++it) {
    if (it->marked && it->sent_ns >= since_ns) return true;
  }
  return false;
}

std::optional<int64_t> VersionProbe::first_unmarked_only(int64_t trigger_ns, int64_t quiet_ns,
                                                         int64_t timeout_ns) const {
  const int64_t deadline = steady_ns() + timeout_ns;
  for (;;) {
    const std::vector<Answer> all = answers();
    int64_t last_marked = trigger_ns;
    for (const Answer& a : all) {
      if (a.marked && a.sent_ns >= trigger_ns) last_marked = std::max(last_marked, a.sent_ns);
    }
    // Settled: answers for requests sent `quiet_ns` after the last marked one, none marked.
    std::optional<int64_t> first_after;
    bool settled = false;
    for (const Answer& a : all) {
      if (a.sent_ns <= last_marked) continue;
      if (!first_after || a.received_ns < *first_after) first_after = a.received_ns;
      if (a.sent_ns >= last_marked + quiet_ns) settled = true;
    }
    if (settled) return first_after;
    if (steady_ns() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// ---- VerdictServer ----

VerdictServer::VerdictServer() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      pipe(wake_fds_) != 0) {
    throw std::runtime_error("verdict server: cannot listen on loopback");
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve_loop(); });
}

VerdictServer::~VerdictServer() {
  (void)!write(wake_fds_[1], "x", 1);
  thread_.join();
  close(listen_fd_);
  close(wake_fds_[0]);
  close(wake_fds_[1]);
}

void VerdictServer::fail() {
  first_failing_ns_ = 0;
  failing_ = true;
}

void VerdictServer::heal() { failing_ = false; }

void VerdictServer::serve_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    if (poll(fds, 2, 1000) < 0) continue;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // The provider sends a short GET without a body: the head is the whole request.
    std::string request;
    char chunk[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      request.append(chunk, static_cast<size_t>(n));
    }
    ++requests_;
    const bool failing = failing_.load();
    const std::string body = failing ? "{\"healthy\": 0}" : "{\"healthy\": 1}";
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    const bool written = send_all(fd, response);
    if (written && failing) {
      int64_t expected = 0;
      first_failing_ns_.compare_exchange_strong(expected, steady_ns());
    }
    close(fd);
  }
}

}  // namespace sluice::bench
