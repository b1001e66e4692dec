#include "healthcheck/probe_exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <memory>

#include <fmt/format.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "healthcheck/probe_target.h"
#include "base/process.h"

namespace sluice::healthcheck {
namespace {

namespace asio = boost::asio;

class ExecRun : public std::enable_shared_from_this<ExecRun> {
 public:
  ExecRun(const asio::any_io_executor& executor, ExecSpec spec,
          std::function<void(ExecOutcome)> done)
      : executor_(executor),
        spec_(std::move(spec)),
        done_(std::move(done)),
        output_pipe_(executor),
        pidfd_(executor),
        timer_(executor) {}

  void start() {
    started_ = std::chrono::steady_clock::now();
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      const int error = errno;
      return fail(fmt::format("pipe: {}", strerror(error)), own_resource_error(error));
    }
    SpawnRequest request;
    request.argv = spec_.argv;
    request.env = spec_.env;
    request.working_dir = spec_.working_dir;
    request.confine_to = spec_.confine_to;
    request.stdout_fd = fds[1];
    request.stderr_fd = fds[1];
    int spawn_errno = 0;
    auto pid = spawn_process(request, &spawn_errno);
    close(fds[1]);
    if (!pid) {
      close(fds[0]);
      return fail(pid.status().message(), own_resource_error(spawn_errno));
    }
    pid_ = *pid;
    output_pipe_.assign(fds[0]);
    output_pipe_.non_blocking(true);
    const int pidfd = open_pidfd(pid_);
    if (pidfd < 0) {
      // Out of descriptors (or a kernel before 5.3); reap the command synchronously.
      const int error = errno;
      kill(-pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      return fail(fmt::format("pidfd_open: {}", strerror(error)), own_resource_error(error));
    }
    pidfd_.assign(pidfd);
    read_output();
    pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](boost::system::error_code) { self->on_exit(); });
    timer_.expires_after(spec_.timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->exited_) return;
      self->timed_out_ = true;
      kill(-self->pid_, SIGKILL);
    });
  }

 private:
  void read_output() {
    output_pipe_.async_read_some(
        asio::buffer(chunk_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
          if (n > 0) self->append(self->chunk_.data(), n);
          if (!ec && self->output_pipe_.is_open()) self->read_output();
        });
  }

  void append(const char* data, size_t n) {
    output_.append(data, n);
    if (output_.size() > 2 * spec_.output_limit) {
      output_.erase(0, output_.size() - spec_.output_limit);
    }
  }

  void on_exit() {
    exited_ = true;
    timer_.cancel();
    // Let an output read that already completed run its handler first, then finish.
    asio::post(executor_, [self = shared_from_this()] { self->finish_exit(); });
  }

  void finish_exit() {
    int status = 0;
    const pid_t reaped = waitpid(pid_, &status, WNOHANG);
    kill(-pid_, SIGKILL);  // leftovers of the command's process group
    ExecOutcome outcome;
    if (reaped == pid_) {
      const ExitStatus exit = decode_wait_status(status);
      outcome.exit_code = exit.exit_code;
      outcome.signal = exit.signal;
    } else {
      outcome.error = "exec: could not reap the command";  // not a resource of ours
    }
    // Everything the command wrote is in the pipe now; drain what is there without waiting for
    // EOF (a grandchild could hold the pipe open).
    std::array<char, 4096> buf;
    while (true) {
      const ssize_t n = read(output_pipe_.native_handle(), buf.data(), buf.size());
      if (n <= 0) break;
      append(buf.data(), static_cast<size_t>(n));
    }
    boost::system::error_code ignored;
    output_pipe_.close(ignored);
    pidfd_.close(ignored);
    outcome.timed_out = timed_out_;
    if (output_.size() > spec_.output_limit) {
      output_.erase(0, output_.size() - spec_.output_limit);
    }
    outcome.output = std::move(output_);
    deliver(std::move(outcome));
  }

  void fail(std::string error, std::string own_error) {
    ExecOutcome outcome;
    outcome.error = std::move(error);
    outcome.own_error = std::move(own_error);
    deliver(std::move(outcome));
  }

  void deliver(ExecOutcome outcome) {
    outcome.took =
        std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started_);
    auto done = std::move(done_);
    done(std::move(outcome));
  }

  asio::any_io_executor executor_;
  ExecSpec spec_;
  std::function<void(ExecOutcome)> done_;
  asio::posix::stream_descriptor output_pipe_;
  asio::posix::stream_descriptor pidfd_;
  asio::steady_timer timer_;
  std::array<char, 4096> chunk_{};
  std::string output_;
  pid_t pid_ = 0;
  bool exited_ = false;
  bool timed_out_ = false;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

std::string ExecOutcome::describe() const {
  std::string head;
  if (!error.empty()) {
    head = error;
  } else if (timed_out) {
    head = fmt::format("timed out after {}ms", took.count());
  } else if (signal) {
    head = ExitStatus{exit_code, signal}.describe();
  } else {
    head = fmt::format("exit code {}", exit_code.value_or(-1));
  }
  if (output.empty()) return head;
  return fmt::format("{}: {}", head, output);
}

void async_exec(const asio::any_io_executor& executor, ExecSpec spec,
                std::function<void(ExecOutcome)> done) {
  auto run = std::make_shared<ExecRun>(executor, std::move(spec), std::move(done));
  asio::post(executor, [run] { run->start(); });
}

}  // namespace sluice::healthcheck
