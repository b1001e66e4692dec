#include "tests/support/echo_backend/echo_backend.h"

#include <charconv>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace sluice::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

int number_after(std::string_view text, std::string_view key, int fallback) {
  const size_t at = text.find(key);
  if (at == std::string_view::npos) return fallback;
  int v = fallback;
  const char* begin = text.data() + at + key.size();
  std::from_chars(begin, text.data() + text.size(), v);
  return v;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket s, const std::string& version, const EchoBehaviour& behaviour,
          std::atomic<uint64_t>& requests, std::atomic<int>& in_flight)
      : stream_(std::move(s)),
        timer_(stream_.get_executor()),
        version_(version),
        behaviour_(behaviour),
        requests_(requests),
        in_flight_(in_flight) {}

  void read() {
    request_ = {};
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](error_code ec, size_t) { self->on_read(ec); });
  }

 private:
  void on_read(error_code ec) {
    if (ec) return;
    const uint64_t nth = requests_.fetch_add(1) + 1;
    in_flight_.fetch_add(1);
    const std::string_view target(request_.target().data(), request_.target().size());
    if (target.rfind("/reset", 0) == 0) {
      in_flight_.fetch_sub(1);
      stream_.socket().set_option(net::socket_base::linger(true, 0), ec);
      stream_.socket().close(ec);
      return;
    }
    response_ = {};
    response_.version(request_.version());
    response_.result(http::status::ok);
    if (target.rfind("/status/", 0) == 0) {
      response_.result(static_cast<unsigned>(number_after(target, "/status/", 200)));
    }
    if (behaviour_.fail_every > 0 && nth % static_cast<uint64_t>(behaviour_.fail_every) == 0) {
      response_.result(http::status::internal_server_error);
    }
    response_.set("X-Backend-Version", version_);
    response_.set(http::field::content_type, "text/plain");
    response_.body() = version_;
    response_.keep_alive(request_.keep_alive());
    response_.prepare_payload();
    int delay_ms = behaviour_.delay_ms;
    if (target.rfind("/slow", 0) == 0) delay_ms += number_after(target, "ms=", 100);
    if (delay_ms > 0) {
      timer_.expires_after(std::chrono::milliseconds(delay_ms));
      timer_.async_wait([self = shared_from_this()](error_code) { self->write(); });
      return;
    }
    write();
  }

  void write() {
    http::async_write(stream_, response_, [self = shared_from_this()](error_code ec, size_t) {
      self->in_flight_.fetch_sub(1);
      if (ec || !self->response_.keep_alive()) {
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        return;
      }
      self->read();
    });
  }

  beast::tcp_stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  const std::string& version_;
  const EchoBehaviour& behaviour_;
  std::atomic<uint64_t>& requests_;
  std::atomic<int>& in_flight_;
};

}  // namespace

struct EchoBackend::Impl {
  Impl(std::string v, int threads, EchoBehaviour b)
      : version(std::move(v)),
        behaviour(b),
        ioc(threads),
        work(net::make_work_guard(ioc)),
        acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    accept();
    for (int i = 0; i < threads; ++i) runners.emplace_back([this] { ioc.run(); });
  }
  ~Impl() {
    work.reset();
    ioc.stop();
    for (auto& t : runners) t.join();
  }
  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](error_code ec, tcp::socket s) {
      if (ec) return;
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(s), version, behaviour, requests, in_flight)->read();
      accept();
    });
  }

  const std::string version;
  const EchoBehaviour behaviour;
  std::atomic<uint64_t> requests{0};
  std::atomic<int> in_flight{0};
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work;
  tcp::acceptor acceptor;
  std::vector<std::thread> runners;
};

EchoBackend::EchoBackend(std::string version, int threads, EchoBehaviour behaviour)
    : impl_(std::make_unique<Impl>(std::move(version), threads, behaviour)) {}
EchoBackend::~EchoBackend() = default;
uint16_t EchoBackend::port() const { return impl_->acceptor.local_endpoint().port(); }
const std::string& EchoBackend::version() const { return impl_->version; }
uint64_t EchoBackend::requests() const { return impl_->requests.load(); }
int EchoBackend::in_flight() const { return impl_->in_flight.load(); }

}  // namespace sluice::testing
