#include "examples/services/common/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace sluice::examples {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 1024 * 1024;
constexpr int kPollMs = 100;
constexpr int kIdleTimeoutMs = 60'000;

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Parses the request line and headers of `head` (without the blank line).
std::optional<HttpRequest> parse_head(const std::string& head, std::string* version) {
  HttpRequest req;
  size_t line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  size_t sp1 = line.find(' ');
  size_t sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return std::nullopt;
  req.method = line.substr(0, sp1);
  req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  *version = line.substr(sp2 + 1);
  if (version->rfind("HTTP/1.", 0) != 0 || req.target.empty()) return std::nullopt;
  req.path = req.target.substr(0, req.target.find('?'));
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string h = head.substr(pos, end - pos);
    size_t colon = h.find(':');
    if (colon == std::string::npos) return std::nullopt;
    req.headers[lower(trim(h.substr(0, colon)))] = trim(h.substr(colon + 1));
    pos = end + 2;
  }
  return req;
}

std::string serialize(const HttpResponse& res, bool keep_alive) {
  std::string out =
      "HTTP/1.1 " + std::to_string(res.status) + " " + http_reason(res.status) + "\r\n";
  out += "Content-Type: " + res.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(res.body.size()) + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [name, value] : res.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += res.body;
  return out;
}

}  // namespace

const char* http_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

HttpServer::HttpServer(HttpHandler handler) : handler_(std::move(handler)) {}

HttpServer::~HttpServer() {
  shutdown(std::chrono::milliseconds(0));
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return open_ == 0; });
}

Status HttpServer::listen(uint16_t port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return unavailable(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 128) != 0) {
    std::string err = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return unavailable("listen on 127.0.0.1:" + std::to_string(port) + ": " + err);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  return Status::ok();
}

void HttpServer::start() {
  accept_thread_ = std::thread([this] { accept_loop(); });
}

int HttpServer::open_connections() const {
  std::lock_guard lock(mu_);
  return open_;
}

bool HttpServer::shutdown(std::chrono::milliseconds grace) {
  stopping_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, grace, [&] { return open_ == 0; });
}

void HttpServer::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, kPollMs);
    if (r <= 0 || stopping_) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    {
      std::lock_guard lock(mu_);
      ++open_;
    }
    std::thread([this, fd] {
      serve(fd);
      ::close(fd);
      std::lock_guard lock(mu_);
      --open_;
      cv_.notify_all();
    }).detach();
  }
}

void HttpServer::serve(int fd) {
  std::string buf;
  int idle_ms = 0;
  char chunk[16 * 1024];
  // Reads more bytes into buf; false when the connection should end.
  auto read_more = [&](bool idle) -> bool {
    for (;;) {
      if (idle && stopping_) return false;  // a connection between requests closes at once
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, kPollMs);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return false;
      if (r == 0) {
        idle_ms += kPollMs;
        if (idle_ms >= kIdleTimeoutMs) return false;
        continue;
      }
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf.append(chunk, static_cast<size_t>(n));
      idle_ms = 0;
      return true;
    }
  };

  for (;;) {
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > kMaxHeaderBytes) {
        send_all(fd, serialize({431, "text/plain", {}, "header too large\n"}, false));
        return;
      }
      if (!read_more(buf.empty())) return;
    }
    std::string version;
    auto req = parse_head(buf.substr(0, head_end), &version);
    if (!req) {
      send_all(fd, serialize({400, "text/plain", {}, "bad request\n"}, false));
      return;
    }
    size_t body_len = 0;
    if (auto it = req->headers.find("content-length"); it != req->headers.end()) {
      try {
        body_len = std::stoul(it->second);
      } catch (const std::exception&) {
        send_all(fd, serialize({400, "text/plain", {}, "bad content-length\n"}, false));
        return;
      }
    }
    if (req->headers.count("transfer-encoding") || body_len > kMaxBodyBytes) {
      send_all(fd, serialize({413, "text/plain", {}, "unsupported body\n"}, false));
      return;
    }
    size_t total = head_end + 4 + body_len;
    while (buf.size() < total) {
      if (!read_more(false)) return;
    }
    req->body = buf.substr(head_end + 4, body_len);
    buf.erase(0, total);

    std::string connection =
        lower(req->headers.count("connection") ? req->headers["connection"] : "");
    bool keep_alive = version == "HTTP/1.1" ? connection != "close" : connection == "keep-alive";
    HttpResponse res;
    try {
      res = handler_(*req);
    } catch (const std::exception& e) {
      res = {500, "text/plain", {}, std::string("internal error: ") + e.what() + "\n"};
    }
    if (stopping_) keep_alive = false;
    if (!send_all(fd, serialize(res, keep_alive)) || !keep_alive) return;
  }
}

}  // namespace sluice::examples
