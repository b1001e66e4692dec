#include "gitops/deadline_stream.h"

#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace sluice::gitops {
namespace {

using SteadyClock = std::chrono::steady_clock;

thread_local FetchDeadlines* t_current = nullptr;

std::string ms_text(Duration d) { return std::to_string(d.count()) + "ms"; }

// The first four members are libgit2 1.5's private `git_socket_stream` ({parent, host, port,
// s}): its ssh transport takes the descriptor out of whatever GIT_STREAM_STANDARD returned
// through that struct, so the layout must stay a prefix of it.
struct DeadlineSocket {
  git_stream parent;
  char* host = nullptr;
  char* port = nullptr;
  int s = -1;
  // Ours.
  FetchDeadlines* scope = nullptr;  // the fetch this stream belongs to, or none
  StreamLimits limits;
  SteadyClock::time_point deadline = SteadyClock::time_point::max();
  std::string host_text, port_text;
};

DeadlineSocket* self_of(git_stream* stream) { return reinterpret_cast<DeadlineSocket*>(stream); }

int fail(int error_class, const std::string& message) {
  git_error_set_str(error_class, message.c_str());
  return -1;
}

int timeout_error(DeadlineSocket* self, const std::string& why) {
  if (self->scope) self->scope->note_timeout(why);
  return fail(GIT_ERROR_NET, why);
}

std::string endpoint(const DeadlineSocket* self) { return self->host_text + ":" + self->port_text; }

// Waits for `events` on the socket for at most `op_limit`, and never past the fetch's deadline:
// 1 ready, 0 a limit passed (the error is set), -1 poll error.
int wait_for(DeadlineSocket* self, short events, Duration op_limit, const char* what) {
  for (;;) {
    auto now = SteadyClock::now();
    bool deadline_first = self->deadline - now <= op_limit;
    if (now >= self->deadline) {
      timeout_error(self, std::string(what) + " " + endpoint(self) + ": the fetch deadline of " +
                              ms_text(self->scope ? self->scope->total() : Duration(0)) +
                              " passed");
      return 0;
    }
    auto wait = deadline_first ? std::chrono::ceil<Duration>(self->deadline - now) : op_limit;
    pollfd pfd{self->s, events, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(wait.count(), 1)));
    if (rc > 0) return 1;
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return fail(GIT_ERROR_OS, std::string("poll: ") + std::strerror(errno));
    if (deadline_first) continue;  // reported at the top of the loop
    timeout_error(self, std::string(what) + " " + endpoint(self) + ": no answer within " +
                            ms_text(op_limit));
    return 0;
  }
}

int stream_connect(git_stream* stream) {
  DeadlineSocket* self = self_of(stream);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* info = nullptr;
  if (int rc = ::getaddrinfo(self->host_text.c_str(), self->port_text.c_str(), &hints, &info))
    return fail(GIT_ERROR_NET,
                "failed to resolve address for " + self->host_text + ": " + ::gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* p = info; p != nullptr; p = p->ai_next) {
    int fd = ::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, p->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    self->s = fd;
    if (self->scope) self->scope->track(fd);
    int rc = ::connect(fd, p->ai_addr, p->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      int ready = wait_for(self, POLLOUT, self->limits.connect_timeout, "connect to");
      if (ready <= 0) {
        if (self->scope) self->scope->untrack(fd);
        ::close(fd);
        self->s = -1;
        ::freeaddrinfo(info);
        return -1;  // a timeout ends the attempt: the limit is for the connect, not per address
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      rc = so_error == 0 ? 0 : -1;
      errno = so_error;
    }
    if (rc == 0) {
      ::freeaddrinfo(info);
      return 0;
    }
    last_error = std::strerror(errno);
    if (self->scope) self->scope->untrack(fd);
    ::close(fd);
    self->s = -1;
  }
  ::freeaddrinfo(info);
  return fail(GIT_ERROR_OS, "failed to connect to " + endpoint(self) + ": " + last_error);
}

ssize_t stream_read(git_stream* stream, void* data, size_t len) {
  DeadlineSocket* self = self_of(stream);
  for (;;) {
    ssize_t n = ::recv(self->s, data, len, MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return fail(GIT_ERROR_NET, "error receiving data from " + endpoint(self) + ": " +
                                     std::strerror(errno));
    if (wait_for(self, POLLIN, self->limits.io_timeout, "read from") <= 0) return -1;
  }
}

ssize_t stream_write(git_stream* stream, const char* data, size_t len, int /*flags*/) {
  DeadlineSocket* self = self_of(stream);
  for (;;) {
    ssize_t n = ::send(self->s, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return fail(GIT_ERROR_NET,
                  "error sending data to " + endpoint(self) + ": " + std::strerror(errno));
    if (wait_for(self, POLLOUT, self->limits.io_timeout, "write to") <= 0) return -1;
  }
}

int stream_close(git_stream* stream) {
  DeadlineSocket* self = self_of(stream);
  if (self->s >= 0) {
    if (self->scope) self->scope->untrack(self->s);
    ::close(self->s);
    self->s = -1;
  }
  return 0;
}

void stream_free(git_stream* stream) {
  stream_close(stream);
  delete self_of(stream);
}

int stream_init(git_stream** out, const char* host, const char* port) {
  auto* self = new DeadlineSocket();
  self->parent.version = GIT_STREAM_VERSION;
  self->parent.encrypted = 0;
  self->parent.proxy_support = 0;
  self->parent.connect = stream_connect;
  self->parent.read = stream_read;
  self->parent.write = stream_write;
  self->parent.close = stream_close;
  self->parent.free = stream_free;
  self->host_text = host ? host : "";
  self->port_text = port ? port : "";
  self->host = self->host_text.data();
  self->port = self->port_text.data();
  if (FetchDeadlines* scope = FetchDeadlines::current()) {
    self->scope = scope;
    self->limits = scope->limits();
    self->deadline = scope->deadline();
  }
  *out = &self->parent;
  return 0;
}

}  // namespace

void install_deadline_stream() {
  static std::once_flag once;
  std::call_once(once, [] {
    static git_stream_registration registration{};
    registration.version = GIT_STREAM_VERSION;
    registration.init = stream_init;
    registration.wrap = nullptr;
    git_stream_register(GIT_STREAM_STANDARD, &registration);
  });
}

FetchDeadlines::FetchDeadlines(StreamLimits limits, Duration total)
    : limits_(limits),
      total_(total),
      deadline_(SteadyClock::now() + total),
      previous_(t_current) {
  t_current = this;
  watchdog_ = std::thread([this] { watch(); });
}

FetchDeadlines::~FetchDeadlines() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
  t_current = previous_;
}

FetchDeadlines* FetchDeadlines::current() { return t_current; }

bool FetchDeadlines::timed_out() const {
  std::lock_guard lock(mu_);
  return timed_out_;
}

std::string FetchDeadlines::reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

void FetchDeadlines::note_timeout(const std::string& why) {
  std::lock_guard lock(mu_);
  timed_out_ = true;
  if (reason_.empty()) reason_ = why;
}

void FetchDeadlines::track(int fd) {
  std::lock_guard lock(mu_);
  fds_.insert(fd);
}

void FetchDeadlines::untrack(int fd) {
  std::lock_guard lock(mu_);
  fds_.erase(fd);
}

// At the deadline, every socket of the fetch still open is shut down (not closed: the stream
// owns the descriptor, and untrack() runs before close(), so a reused number is never touched).
// A reader blocked anywhere, libssh2's own poll included, then sees EOF or an error at once.
void FetchDeadlines::watch() {
  std::unique_lock lock(mu_);
  if (cv_.wait_until(lock, deadline_, [this] { return done_; })) return;
  timed_out_ = true;
  if (reason_.empty()) reason_ = "no answer within the fetch deadline of " + ms_text(total_);
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
}

}  // namespace sluice::gitops
