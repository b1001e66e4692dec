// Connection limits of the built-in router's front door (issue 19): idle connections must not
// exhaust Sluice's descriptors. Per client address, per door, and a descriptor reserve below
// which the door stops accepting. Raw loopback sockets, bounded waits.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/traffic/http_test_client.h"
#include "tests/support/echo_backend/echo_backend.h"
#include "traffic/builtin_router.h"

namespace sluice::traffic {
namespace {

using sluice::testing::EchoBackend;
using sluice::testing::HttpTestClient;
using namespace std::chrono_literals;

RouteTable table_for(const EchoBackend& backend) {
  RouteTable t;
  t.rollout = "orders";
  t.listen = "127.0.0.1:0";
  RevisionRoute r;
  r.revision = 1;
  r.version = "v1";
  r.role = "stable";
  r.weight_percent = 100;
  r.ready_endpoints = {Endpoint{"s-0", "127.0.0.1", backend.port()}};
  t.revisions.push_back(r);
  return t;
}

// An idle connection from `source` (a 127.x address) to the door.
struct RawConnection {
  int fd = -1;
  RawConnection(uint16_t port, const char* source) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~RawConnection() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  // What the door sent before closing, waiting at most `limit` ("" when it sent nothing).
  std::string read_until_closed(std::chrono::milliseconds limit) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[512];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
};

template <class F>
bool eventually(F cond, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

}  // namespace

TEST_CASE("a front door refuses connections over its per-client and per-door limits with 503",
          "[traffic][builtin][limits]") {
  EchoBackend backend("v1");
  ProxyOptions options;
  options.max_connections_per_client = 3;
  options.max_connections_per_door = 5;
  BuiltinRouter router(SystemClock::instance(), options);
  REQUIRE(router.apply(table_for(backend)).is_ok());
  const uint16_t port = *router.listen_port("orders");

  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<RawConnection>(port, "127.0.0.1"));
  // The fourth from the same address is answered 503 and closed at once.
  RawConnection fourth(port, "127.0.0.1");
  std::string refused = fourth.read_until_closed(3s);
  CHECK_THAT(refused, Catch::StartsWith("HTTP/1.1 503"));
  CHECK_THAT(refused, Catch::Contains("too many connections"));

  // Another client address still gets in, up to the door's limit of 5.
  idle.push_back(std::make_unique<RawConnection>(port, "127.0.0.2"));
  idle.push_back(std::make_unique<RawConnection>(port, "127.0.0.2"));
  for (auto& c : idle) CHECK(c->read_until_closed(100ms).empty());  // held open, not refused
  RawConnection sixth(port, "127.0.0.3");
  CHECK_THAT(sixth.read_until_closed(3s), Catch::StartsWith("HTTP/1.1 503"));

  // Slots come back when connections close: a real request is served again.
  idle.clear();
  HttpTestClient client(port);
  bool served = eventually([&] {
    auto r = client.get("/", {}, 1s);
    return !r.ec && r.status == 200;
  });
  CHECK(served);
}

TEST_CASE("a front door stops accepting while the process is short of descriptors",
          "[traffic][builtin][limits]") {
  EchoBackend backend("v1");
  ProxyOptions options;
  // A reserve larger than any process has: the door must leave connections in the backlog.
  options.descriptor_reserve = uint64_t{1} << 40;
  BuiltinRouter router(SystemClock::instance(), options);
  REQUIRE(router.apply(table_for(backend)).is_ok());
  const uint16_t port = *router.listen_port("orders");
  RawConnection c(port, "127.0.0.1");  // the kernel completes the handshake (backlog)
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  CHECK(c.read_until_closed(500ms).empty());  // never accepted, never answered
  CHECK(backend.requests() == 0);
}
}  // namespace sluice::traffic
