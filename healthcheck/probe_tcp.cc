#include "healthcheck/probe_tcp.h"

#include <memory>

#include <fmt/format.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace sluice::healthcheck {

namespace asio = boost::asio;
namespace beast = boost::beast;

void async_tcp_check(const asio::any_io_executor& executor, std::string host, int port,
                     Duration timeout, std::function<void(ProbeOutcome)> done) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec || !is_loopback_host(host)) {
    asio::post(executor, [done = std::move(done), host] {
      done({false, fmt::format("host {} is not a loopback address", host), {}});
    });
    return;
  }
  auto stream = std::make_shared<beast::tcp_stream>(executor);
  stream->expires_after(timeout);
  stream->async_connect(
      asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port)),
      [stream, timeout, done = std::move(done)](beast::error_code e) {
        if (!e) {
          beast::error_code ignored;
          stream->socket().close(ignored);
          return done({true, "connected", {}});
        }
        if (e == beast::error::timeout) {
          return done(
              {false, fmt::format("connect: timed out after {}ms", timeout.count()), {}});
        }
        ProbeOutcome outcome{false, fmt::format("connect: {}", e.message()), {}};
        if (e.category() == boost::system::system_category() ||
            e.category() == boost::system::generic_category())
          outcome.own_error = own_resource_error(e.value());
        done(std::move(outcome));
      });
}

}  // namespace sluice::healthcheck
