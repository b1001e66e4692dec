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

FrontDoor::FrontDoor(net::io_context& ioc, std::string listen, const ProxyOptions& options,
                     std::shared_ptr<const CompiledTable> table)
    : ioc_(ioc),
      listen_(std::move(listen)),
      options_(options),
      acceptor_(net::make_strand(ioc)),
      table_(std::move(table)) {}

Result<std::shared_ptr<FrontDoor>> FrontDoor::open(net::io_context& ioc, std::string listen,
                                                   const ProxyOptions& options,
                                                   std::shared_ptr<const CompiledTable> table) {
  auto address = parse_listen_address(listen);
  if (!address) return address.status();
  auto door = std::make_shared<FrontDoor>(ioc, listen, options, std::move(table));
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

namespace {

// Over a limit: a short 503 written straight to the new socket (non-blocking; a client that
// does not read it loses nothing), then close. Cheaper than a session, and the client learns why.
void refuse(tcp::socket& socket, const char* why) {
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  const std::string body = std::string("{\"error\":\"") + why + "\",\"code\":503}";
  const std::string response = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                               "Content-Type: application/json\r\nRetry-After: 1\r\n"
                               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  socket.write_some(net::buffer(response), ignored);
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace

size_t FrontDoor::connections() const {
  std::lock_guard lock(slots_mu_);
  return open_connections_;
}

size_t FrontDoor::connections_from(const std::string& address) const {
  std::lock_guard lock(slots_mu_);
  auto it = per_client_.find(address);
  return it == per_client_.end() ? 0 : it->second;
}

std::shared_ptr<void> FrontDoor::take_slot(const std::string& address) {
  {
    std::lock_guard lock(slots_mu_);
    if (open_connections_ >= options_.max_connections_per_door) return nullptr;
    size_t& mine = per_client_[address];
    if (mine >= options_.max_connections_per_client) return nullptr;
    ++mine;
    ++open_connections_;
  }
  // The token gives the slot back when the session ends; the door may already be gone by then.
  struct Slot {
    std::weak_ptr<FrontDoor> door;
    std::string address;
    ~Slot() {
      if (auto d = door.lock()) d->release_slot(address);
    }
  };
  auto slot = std::make_shared<Slot>();  // built in place: a temporary Slot would release
  slot->address = address;
  slot->door = weak_from_this();
  return slot;
}

void FrontDoor::release_slot(const std::string& address) {
  std::lock_guard lock(slots_mu_);
  --open_connections_;
  auto it = per_client_.find(address);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
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
  acceptor_.async_accept(
      net::make_strand(ioc_),
      [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        if (!ec) {
          note_descriptor_opened();
          boost::system::error_code aec;
          const auto remote = socket.remote_endpoint(aec);
          const std::string address = aec ? std::string("?") : remote.address().to_string();
          if (auto slot = self->take_slot(address)) {
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            auto session = std::make_shared<ProxySession>(self, std::move(socket));
            session->hold(std::move(slot));
            session->start();
          } else {
            refuse(socket, "too many connections");
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
