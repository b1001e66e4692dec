#include "healthcheck/probe_http.h"

#include <memory>

#include <fmt/format.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "healthcheck/probe_target.h"

namespace sluice::healthcheck {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kBodyTail = 512;
constexpr size_t kBodyLimit = 64 * 1024;

// Owns the stream and buffers for one exchange; kept alive by the handlers it registers.
class HttpExchange : public std::enable_shared_from_this<HttpExchange> {
 public:
  HttpExchange(const asio::any_io_executor& executor, HttpRequestSpec spec,
               std::function<void(HttpOutcome)> done)
      : stream_(executor), spec_(std::move(spec)), done_(std::move(done)) {}

  void start() {
    std::string host = spec_.host == "localhost" ? "127.0.0.1" : spec_.host;
    if (host == "[::1]") host = "::1";
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec || !is_loopback_host(spec_.host)) {
      return finish(fmt::format("host {} is not a loopback address", spec_.host));
    }
    request_.method(spec_.method == "POST" ? http::verb::post : http::verb::get);
    request_.target(spec_.path.empty() ? "/" : spec_.path);
    request_.version(11);
    request_.set(http::field::host, fmt::format("{}:{}", spec_.host, spec_.port));
    request_.set(http::field::user_agent, "sluice-probe");
    request_.set(http::field::connection, "close");
    for (const auto& header : spec_.headers) request_.set(header.name, header.value);
    request_.prepare_payload();
    parser_.body_limit(kBodyLimit);
    stream_.expires_after(spec_.timeout);
    stream_.async_connect(
        tcp::endpoint(address, static_cast<unsigned short>(spec_.port)),
        [self = shared_from_this()](beast::error_code e) { self->on_connect(e); });
  }

 private:
  void on_connect(beast::error_code ec) {
    if (ec) return finish(transport_error("connect", ec), own_error_of(ec));
    http::async_write(stream_, request_, [self = shared_from_this()](beast::error_code e, size_t) {
      self->on_write(e);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec) return finish(transport_error("write", ec), own_error_of(ec));
    http::async_read(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code e, size_t) { self->on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return finish(transport_error("read", ec), own_error_of(ec));
    HttpOutcome outcome;
    const auto& response = parser_.get();
    outcome.status = static_cast<int>(response.result_int());
    const std::string& body = response.body();
    outcome.body_tail = body.size() > kBodyTail ? body.substr(body.size() - kBodyTail) : body;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    deliver(std::move(outcome));
  }

  std::string transport_error(const char* step, beast::error_code ec) const {
    if (ec == beast::error::timeout) {
      return fmt::format("{}: timed out after {}ms", step, spec_.timeout.count());
    }
    return fmt::format("{}: {}", step, ec.message());
  }

  // Opening the socket happens in async_connect, so EMFILE and the like surface as its error.
  static std::string own_error_of(beast::error_code ec) {
    if (ec.category() != boost::system::system_category() &&
        ec.category() != boost::system::generic_category())
      return "";
    return own_resource_error(ec.value());
  }

  void finish(std::string error, std::string own_error = "") {
    HttpOutcome outcome;
    outcome.error = std::move(error);
    outcome.own_error = std::move(own_error);
    deliver(std::move(outcome));
  }

  void deliver(HttpOutcome outcome) {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(outcome));
  }

  beast::tcp_stream stream_;
  HttpRequestSpec spec_;
  std::function<void(HttpOutcome)> done_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
};

}  // namespace

std::string HttpOutcome::describe() const {
  if (!error.empty()) return error;
  if (body_tail.empty()) return fmt::format("HTTP {}", status);
  return fmt::format("HTTP {}: {}", status, body_tail);
}

void async_http_request(const asio::any_io_executor& executor, HttpRequestSpec spec,
                        std::function<void(HttpOutcome)> done) {
  auto exchange = std::make_shared<HttpExchange>(executor, std::move(spec), std::move(done));
  // start() may finish synchronously (bad host); defer so `done` never runs inside this call.
  asio::post(executor, [exchange] { exchange->start(); });
}

}  // namespace sluice::healthcheck
