#include "traffic/front_door.h"

#include <charconv>

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "base/descriptors.h"
#include "traffic/proxy_session.h"

namespace sluice::traffic {

namespace net = boost::asio;
using tcp = net::ip::tcp;

Result<tcp::endpoint> parse_listen_address(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return invalid_argument(fmt::format("listen \"{}\": expected host:port", listen));
  }
  std::string_view host = listen.substr(0, colon);
  const std::string_view port_text = listen.substr(colon + 1);
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return invalid_argument(fmt::format("listen \"{}\": bad port", listen));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  boost::system::error_code aec;
  const net::ip::address address = net::ip::make_address(std::string(host), aec);
  if (aec) return invalid_argument(fmt::format("listen \"{}\": bad address", listen));
  return tcp::endpoint(address, static_cast<uint16_t>(port));
}

FrontDoor::FrontDoor(const std::vector<net::io_context*>& contexts, std::string listen,
                     const ProxyOptions& options, std::shared_ptr<const CompiledTable> table)
    : contexts_(contexts),
      listen_(std::move(listen)),
      options_(options),
      acceptor_(net::make_strand(*contexts.front())),
      table_(std::move(table)),
      slots_(SlotCounter::make(options.max_connections_per_door,
                               options.max_connections_per_client)) {}

Result<std::shared_ptr<FrontDoor>> FrontDoor::open(const std::vector<net::io_context*>& contexts,
                                                   std::string listen, const ProxyOptions& options,
                                                   std::shared_ptr<const CompiledTable> table) {
  auto address = parse_listen_address(listen);
  if (!address) return address.status();
  auto door = std::make_shared<FrontDoor>(contexts, listen, options, std::move(table));
  boost::system::error_code ec;
  auto& a = door->acceptor_;
  a.open(address->protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(*address, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return unavailable(fmt::format("listen {}: {}", listen, ec.message()));
  }
  door->port_ = a.local_endpoint(ec).port();
  door->accept();
  return door;
}

size_t FrontDoor::connections() const { return slots_->held(); }

size_t FrontDoor::connections_from(const std::string& address) const {
  return slots_->held_by(address);
}

void FrontDoor::retry_accept_later() {
  auto timer = std::make_shared<net::steady_timer>(acceptor_.get_executor());
  timer->expires_after(std::chrono::milliseconds(50));
  timer->async_wait(
      [self = shared_from_this(), timer](boost::system::error_code) { self->accept(); });
}

void FrontDoor::accept() {
  if (closing() || !acceptor_.is_open()) return;
  // The descriptor reserve: while the process is short of descriptors, leave new connections in
  // the kernel's backlog rather than take the last descriptors that probes and the API need.
  if (descriptors_free() < options_.descriptor_reserve) {
    retry_accept_later();
    return;
  }
  // A session runs on one context, which one thread runs: its handlers are serial without a
  // strand (a strand added a lock, a queue and a type-erased shared executor to every
  // completion: issue 22). Connections are spread over the contexts in turn.
  net::io_context& context = *contexts_[next_context_++ % contexts_.size()];
  acceptor_.async_accept(
      context.get_executor(),
      [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        if (!ec) {
          note_descriptor_opened();
          boost::system::error_code aec;
          const auto remote = socket.remote_endpoint(aec);
          const std::string address = aec ? std::string("?") : remote.address().to_string();
          if (auto taken = self->slots_->take(address); taken.slot) {
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            auto session = std::make_shared<ProxySession>(self, std::move(socket));
            session->hold(std::shared_ptr<void>(std::move(taken.slot)));
            session->start();
          } else {
            // Over a limit: a short 503 at accept, without a session; the client learns why.
            refuse_connection(socket, "503 Service Unavailable",
                              R"({"error":"too many connections","code":503})", 1);
          }
        }
        if (ec == net::error::operation_aborted || !self->acceptor_.is_open() || self->closing()) {
          return;
        }
        if (ec) {
          // Out of descriptors or similar: back off instead of spinning on accept.
          self->retry_accept_later();
          return;
        }
        self->accept();
      });
}

void FrontDoor::close() {
  closing_.store(true, std::memory_order_release);
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

}  // namespace sluice::traffic
