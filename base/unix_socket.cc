#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace sluice {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Result<sockaddr_un> address_of(const std::string& socket_path, const std::string& what) {
  sockaddr_un addr{};
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return invalid_argument(fmt::format("{}: socket path must be 1 to {} bytes", what,
                                        sizeof(addr.sun_path) - 1));
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  return addr;
}

}  // namespace

Result<std::string> unix_socket_exchange(const std::string& socket_path, const std::string& request,
                                         Duration timeout, const std::string& what,
                                         size_t max_answer_bytes) {
  auto fail = [&](std::string_view step) {
    return unavailable(fmt::format("{}: {}: {}", what, step, std::strerror(errno)));
  };
  auto addr = address_of(socket_path, what);
  if (!addr) return addr.status();
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail("socket");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return fail("connect");
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("send");
    }
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno == EAGAIN || errno == EWOULDBLOCK ? "timed out reading the answer"
                                                          : "recv");
    }
    answer.append(buf, static_cast<size_t>(n));
    if (answer.size() > max_answer_bytes) {
      return unavailable(fmt::format("{}: answer larger than {} bytes", what, max_answer_bytes));
    }
  }
  return answer;
}

Result<int> listen_unix_socket(const std::string& socket_path) {
  const std::string what = "listen on " + socket_path;
  auto addr = address_of(socket_path, what);
  if (!addr) return addr.status();
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return unavailable(fmt::format("{}: socket: {}", what, std::strerror(errno)));
  ::unlink(socket_path.c_str());
  // The socket is created with the umask applied to 0777; 0077 leaves 0700 for the owner only
  // (then chmod makes it explicit, whatever the umask was).
  const mode_t old_mask = ::umask(0077);
  const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
  ::umask(old_mask);
  if (rc != 0) return unavailable(fmt::format("{}: bind: {}", what, std::strerror(errno)));
  ::chmod(socket_path.c_str(), 0600);
  if (::listen(fd.get(), 64) != 0) {
    return unavailable(fmt::format("{}: listen: {}", what, std::strerror(errno)));
  }
  return fd.release();
}

}  // namespace sluice
