// One listening address of the built-in router (a Rollout's service.listen or its blue-green
// preview listen). Internal to traffic/.
//
// Threading: publish()/close() are called by BuiltinRouter on the controller thread; table() is
// read by ProxySession on the I/O threads for every request. The table is an immutable
// CompiledTable swapped whole through std::atomic<std::shared_ptr> (no lock on the data path); a
// session holds the table it routed a request with until the response is written, so an old
// table (and its endpoints) lives exactly as long as requests still use it.
//
// The door is HTTP-only today; a TCP pass-through door would be a second session type chosen
// here at accept time, reading the same CompiledTable (per connection instead of per request).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/connection_slots.h"
#include "base/status.h"
#include "traffic/proxy_options.h"
#include "traffic/route_selection.h"

namespace sluice::traffic {

class FrontDoor : public std::enable_shared_from_this<FrontDoor> {
 public:
  // Binds `listen` ("host:port", "[v6]:port"; port 0 = kernel-assigned) and starts accepting on
  // contexts[0]. Each accepted connection's session runs on the next context in turn (one
  // thread runs each context, so a session needs no strand); the contexts outlive the door's
  // sessions (BuiltinRouter owns both).
  static Result<std::shared_ptr<FrontDoor>> open(
      const std::vector<boost::asio::io_context*>& contexts, std::string listen,
      const ProxyOptions& options, std::shared_ptr<const CompiledTable> table);

  FrontDoor(const std::vector<boost::asio::io_context*>& contexts, std::string listen,
            const ProxyOptions& options, std::shared_ptr<const CompiledTable> table);

  void publish(std::shared_ptr<const CompiledTable> table) {
    table_.store(std::move(table), std::memory_order_release);
  }
  std::shared_ptr<const CompiledTable> table() const {
    return table_.load(std::memory_order_acquire);
  }

  // Stops accepting. Sessions answer their current request with Connection: close.
  void close();
  bool closing() const { return closing_.load(std::memory_order_acquire); }

  // Client connections open now (all clients), and from one address.
  size_t connections() const;
  size_t connections_from(const std::string& address) const;

  const std::string& listen() const { return listen_; }
  uint16_t port() const { return port_; }
  const ProxyOptions& options() const { return options_; }

 private:
  void accept();
  void retry_accept_later();

  const std::vector<boost::asio::io_context*> contexts_;
  size_t next_context_ = 0;  // round robin over contexts_; touched on the acceptor's strand only
  const std::string listen_;
  const ProxyOptions options_;
  boost::asio::ip::tcp::acceptor acceptor_;  // on its own strand
  uint16_t port_ = 0;
  std::atomic<std::shared_ptr<const CompiledTable>> table_;
  std::atomic<bool> closing_{false};
  // Client connections, per door and per client address (base/connection_slots.h); a session
  // holds its slot until it ends.
  std::shared_ptr<SlotCounter> slots_;
};

// "127.0.0.1:8080", "[::1]:0", ":8080" (= 127.0.0.1). Hostnames other than localhost are
// rejected: the router only ever binds numeric addresses.
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(std::string_view listen);

}  // namespace sluice::traffic
