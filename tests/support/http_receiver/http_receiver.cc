#include "tests/support/http_receiver/http_receiver.h"

#include <sys/socket.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

namespace sluice::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

HttpReceiver::HttpReceiver(Script script)
    : script_(std::move(script)),
      acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] { accept_loop(); });
}

HttpReceiver::~HttpReceiver() {
  stopping_ = true;
  // accept() blocks: shutting the listening socket down wakes it.
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(connections_);
  }
  arrived_.notify_all();
  for (auto& t : threads) t.join();
}

void HttpReceiver::accept_loop() {
  while (!stopping_) {
    boost::system::error_code ec;
    tcp::socket socket(ioc_);
    acceptor_.accept(socket, ec);
    if (ec || stopping_) return;
    std::lock_guard lock(mu_);
    open_fds_.insert(socket.native_handle());
    connections_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
  }
}

void HttpReceiver::serve(tcp::socket socket) {
  const int fd = socket.native_handle();
  beast::flat_buffer buffer;
  while (!stopping_) {
    http::request<http::string_body> req;
    boost::system::error_code ec;
    http::read(socket, buffer, req, ec);
    if (ec) break;
    ReceivedRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(field.value());
    }
    r.body = req.body();
    r.at = std::chrono::steady_clock::now();
    size_t index = 0;
    {
      std::lock_guard lock(mu_);
      index = seen_.size();
      seen_.push_back(r);
    }
    arrived_.notify_all();
    const ReceiverAnswer answer = script_ ? script_(r, index) : ReceiverAnswer{};
    if (answer.hang) {
      std::unique_lock lock(mu_);
      arrived_.wait(lock, [this] { return stopping_.load(); });
      break;
    }
    http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = answer.status < 300 ? "ok" : "no";
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !req.keep_alive()) break;
  }
  std::lock_guard lock(mu_);
  open_fds_.erase(fd);
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

std::vector<ReceivedRequest> HttpReceiver::seen() const {
  std::lock_guard lock(mu_);
  return seen_;
}

bool HttpReceiver::wait_for(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return arrived_.wait_for(lock, timeout, [&] { return seen_.size() >= n; });
}

}  // namespace sluice::testing
