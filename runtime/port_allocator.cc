#include "runtime/port_allocator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

namespace sluice::runtime {
namespace {

// Binds 127.0.0.1:port (0 = any); returns the bound port or -errno.
int try_bind(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  // As servers do: connections of a previous incarnation in TIME_WAIT do not make the port busy.
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int result = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    result = -errno;
  } else {
    socklen_t len = sizeof addr;
    result = getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 ? ntohs(addr.sin_port)
                                                                            : -errno;
  }
  close(fd);
  return result;
}

}  // namespace

Result<int> PortAllocator::allocate() {
  for (int attempt = 0; attempt < 64; ++attempt) {
    const int port = try_bind(0);
    if (port < 0) return unavailable(fmt::format("allocate port: {}", strerror(-port)));
    if (held_.insert(port).second) return port;
  }
  return unavailable("allocate port: no free loopback port after 64 attempts");
}

bool PortAllocator::is_free(int port) { return try_bind(port) == port; }

}  // namespace sluice::runtime
