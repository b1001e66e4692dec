// A small blocking HTTP/1.1 client for the router's integration tests. Every call is bounded by
// its timeout (it runs its own io_context until the operation completes or the deadline hits).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace sluice::testing {

struct HttpResult {
  boost::system::error_code ec;
  int status = 0;
  std::string body;
  std::string sluice_version;   // X-Sluice-Version
  std::string backend_version;  // X-Backend-Version
  std::string server;           // X-Sluice-Server (set by the tests' HAProxy)
  std::string haproxy_backend;  // X-Sluice-Backend (set by the tests' HAProxy)
  bool keep_alive = false;
};

class HttpTestClient {
 public:
  explicit HttpTestClient(uint16_t port) : port_(port) {}

  // Connections opened so far (1 for a client whose keep-alive connection was never dropped).
  int connects() const { return connects_; }

  boost::system::error_code connect(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    namespace net = boost::asio;
    boost::system::error_code result = net::error::timed_out;
    stream_.expires_after(timeout);
    stream_.async_connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port_),
                          [&](boost::system::error_code ec) { result = ec; });
    run();
    connected_ = !result;
    ++connects_;
    return result;
  }

  HttpResult get(const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& headers = {},
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    namespace http = boost::beast::http;
    HttpResult out;
    if (!connected_) {
      out.ec = connect();
      if (out.ec) return out;
    }
    http::request<http::string_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.keep_alive(true);
    http::response<http::string_body> res;
    stream_.expires_after(timeout);
    http::async_write(stream_, req, [&](boost::system::error_code ec, size_t) {
      if (ec) {
        out.ec = ec;
        return;
      }
      http::async_read(stream_, buffer_, res,
                       [&](boost::system::error_code ec2, size_t) { out.ec = ec2; });
    });
    run();
    if (out.ec) {
      connected_ = false;
      stream_.close();
      return out;
    }
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    out.sluice_version = std::string(res["X-Sluice-Version"]);
    out.backend_version = std::string(res["X-Backend-Version"]);
    out.server = std::string(res["X-Sluice-Server"]);
    out.haproxy_backend = std::string(res["X-Sluice-Backend"]);
    out.keep_alive = res.keep_alive();
    if (!res.keep_alive()) {
      connected_ = false;
      stream_.close();
    }
    return out;
  }

  // Sends raw bytes and reads one response (status 0 if none arrived).
  HttpResult raw(const std::string& bytes,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    namespace http = boost::beast::http;
    HttpResult out;
    if (!connected_) {
      out.ec = connect();
      if (out.ec) return out;
    }
    http::response<http::string_body> res;
    stream_.expires_after(timeout);
    boost::asio::async_write(
        stream_, boost::asio::buffer(bytes), [&](boost::system::error_code ec, size_t) {
          if (ec) {
            out.ec = ec;
            return;
          }
          http::async_read(stream_, buffer_, res,
                           [&](boost::system::error_code ec2, size_t) { out.ec = ec2; });
        });
    run();
    if (!out.ec) out.status = static_cast<int>(res.result_int());
    return out;
  }

  // Sends bytes without waiting for an answer.
  boost::system::error_code send(const std::string& bytes) {
    boost::system::error_code result;
    if (!connected_) {
      result = connect();
      if (result) return result;
    }
    stream_.expires_after(std::chrono::seconds(5));
    boost::asio::async_write(stream_, boost::asio::buffer(bytes),
                             [&](boost::system::error_code ec, size_t) { result = ec; });
    run();
    return result;
  }

  // True when the peer closes the connection within `timeout` (bytes read meanwhile are dropped).
  bool closed_by_peer_within(std::chrono::milliseconds timeout) {
    boost::system::error_code result;
    char scratch[512];
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      stream_.expires_at(deadline);
      result = {};
      stream_.async_read_some(boost::asio::buffer(scratch),
                              [&](boost::system::error_code ec, size_t) { result = ec; });
      run();
      if (result == boost::beast::error::timeout) return false;
      if (result) return true;  // eof or reset
    }
    return false;
  }

 private:
  void run() {
    ioc_.restart();
    ioc_.run();
  }

  uint16_t port_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_{ioc_};
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
  int connects_ = 0;
};

}  // namespace sluice::testing
