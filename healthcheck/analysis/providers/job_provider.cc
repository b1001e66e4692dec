// job: runs an argv (posix_spawnp, no shell) on a small worker pool, off the caller's thread.
// Exit status 0 -> value 1 and phase Successful, else value 0 and phase Failed (conditions, if
// any, override). On timeout the whole process group is killed and the measurement is an Error.
// The last 4 KiB of stdout+stderr is kept as evidence in the message.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "healthcheck/analysis/provider.h"

extern char** environ;

namespace sluice::analysis {

namespace {

constexpr size_t kTailBytes = 4096;

struct JobOutcome {
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;  // -1: killed by a signal
  int signal = 0;
  std::string tail;
  std::string error;
};

std::string join_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

// Blocking; runs on the worker pool. The deadline is enforced with poll() timeouts.
JobOutcome run_job(const std::vector<std::string>& argv, Duration timeout) {
  JobOutcome out;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    out.error = std::string("pipe: ") + std::strerror(errno);
    return out;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    out.error = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return out;
  }
  out.started = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };
  bool eof = false;
  char buf[4096];
  int status = 0;
  bool reaped = false;
  while (true) {
    if (!eof) {
      pollfd p{fds[0], POLLIN, 0};
      const int pr = poll(&p, 1, std::min(remaining_ms(), 50));
      if (pr > 0) {
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0) {
          out.tail.append(buf, static_cast<size_t>(n));
          if (out.tail.size() > kTailBytes) out.tail.erase(0, out.tail.size() - kTailBytes);
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          eof = true;
        }
      }
    } else {
      pollfd none{-1, 0, 0};
      poll(&none, 0, std::min(remaining_ms(), 10));
    }
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      reaped = true;
      if (eof) break;
      // Drain what is left without waiting for grandchildren that keep the pipe open.
      pollfd p{fds[0], POLLIN, 0};
      while (poll(&p, 1, 0) > 0) {
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        out.tail.append(buf, static_cast<size_t>(n));
        if (out.tail.size() > kTailBytes) out.tail.erase(0, out.tail.size() - kTailBytes);
      }
      break;
    }
    if (remaining_ms() == 0) {
      out.timed_out = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      reaped = true;
      break;
    }
  }
  close(fds[0]);
  if (reaped && !out.timed_out) {
    if (WIFEXITED(status)) {
      out.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      out.signal = WTERMSIG(status);
    }
  }
  return out;
}

class JobProvider final : public Provider {
 public:
  explicit JobProvider(const ProviderEnv& env) : env_(env), pool_(2) {}
  ~JobProvider() override { pool_.join(); }
  void shutdown() override { pool_.join(); }

  void measure(const manifests::Metric& metric, const MeasureContext& /*context*/,
               Done done) override {
    const auto& j = std::get<manifests::JobMetric>(metric.provider);
    const TimePoint started = env_.clock->now();
    const std::string query = join_argv(j.command);
    if (j.command.empty() || j.command[0].empty()) {
      Measurement m = error_measurement(*env_.clock, started, query, "job: empty command");
      boost::asio::post(env_.executor, [done = std::move(done), m]() { done(m); });
      return;
    }
    boost::asio::post(
        pool_,
        [argv = j.command, timeout = j.timeout, started, query, clock = env_.clock,
         // Tracked: the executor's context keeps running while a job runs.
         ex = boost::asio::prefer(env_.executor, boost::asio::execution::outstanding_work.tracked),
         done = std::move(done)]() mutable {
          JobOutcome o = run_job(argv, timeout);
          Measurement m;
          m.query = query;
          m.started_at = started;
          m.finished_at = clock->now();
          if (!o.started) {
            m.phase = AnalysisPhase::kError;
            m.message = "job: " + o.error;
          } else if (o.timed_out) {
            m.phase = AnalysisPhase::kError;
            m.message = "job: timed out after " + std::to_string(timeout.count()) +
                        "ms and was killed; output: " + o.tail;
          } else {
            const bool ok = o.exit_code == 0;
            m.value = ok ? 1.0 : 0.0;
            m.phase = ok ? AnalysisPhase::kSuccessful : AnalysisPhase::kFailed;
            m.message = (o.signal ? "killed by signal " + std::to_string(o.signal)
                                  : "exit " + std::to_string(o.exit_code)) +
                        "; output: " + o.tail;
          }
          // Move `done` out so this pool thread never holds the last reference to the runner.
          boost::asio::post(ex, [done = std::move(done), m = std::move(m)]() { done(m); });
        });
  }

 private:
  ProviderEnv env_;
  boost::asio::thread_pool pool_;
};

}  // namespace

ProviderFactory job_provider_factory() {
  return [](const ProviderEnv& env) { return std::make_unique<JobProvider>(env); };
}

}  // namespace sluice::analysis
