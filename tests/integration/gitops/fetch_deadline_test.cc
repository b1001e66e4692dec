// A Git remote that accepts TCP and never answers must not block fetching (issue 19): the fetch
// fails with a deadline error, the source status shows it, and polling goes on.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "git_fixture.h"
#include "gitops/repository.h"
#include "gitops/watcher.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Accepts every connection on 127.0.0.1:<port> and never sends a byte. The connections are
// closed only when the server is destroyed, which also unblocks a fetch that would otherwise
// wait for ever (so a test without deadlines fails instead of hanging).
class SilentRemote {
 public:
  SilentRemote() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 64) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd pfd{listen_fd_, POLLIN, 0};
        if (::poll(&pfd, 1, 20) <= 0) continue;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::lock_guard lock(mu_);
        accepted_.push_back(fd);
      }
    });
  }
  ~SilentRemote() {
    stop_ = true;
    thread_.join();
    std::lock_guard lock(mu_);
    for (int fd : accepted_) ::close(fd);
    ::close(listen_fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/repo.git"; }
  size_t accepted() {
    std::lock_guard lock(mu_);
    return accepted_.size();
  }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<int> accepted_;
  std::thread thread_;
};

// A fetch on its own thread. The future is kept by the caller outside the remote's scope, so a
// fetch that never returns is released by the remote's destructor rather than hanging the test.
std::future<Result<FetchResult>> start_fetch(const RepoConfig& config) {
  auto repo = GitRepository::open_mirror(config);
  REQUIRE(repo.is_ok());
  std::shared_ptr<GitRepository> shared = std::move(*repo);
  return std::async(std::launch::async, [shared] { return shared->fetch(); });
}

Result<FetchResult> finish(std::future<Result<FetchResult>>& task) {
  REQUIRE(task.wait_for(10s) == std::future_status::ready);
  return task.get();
}

}  // namespace

TEST_CASE("fetch from a remote that accepts and never answers fails at the read timeout",
          "[gitops][repository][deadline]") {
  TempDir tmp;
  std::future<Result<FetchResult>> task;
  bool finished_in_time = false;
  {
    SilentRemote remote;
    RepoConfig config;
    config.url = remote.url();
    config.state_dir = (tmp.path / "state").string();
    config.io_timeout = Duration(300);
    config.fetch_timeout = Duration(20'000);
    task = start_fetch(config);
    finished_in_time = task.wait_for(3s) == std::future_status::ready;
    CHECK(remote.accepted() >= 1);
  }  // closes the connections: a fetch without deadlines ends here instead of hanging
  CHECK(finished_in_time);
  auto result = finish(task);
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().code() == StatusCode::kDeadlineExceeded);
  CHECK_THAT(result.status().message(), Catch::Contains("no answer within 300ms"));
}

TEST_CASE("the whole fetch is bounded by fetch_timeout even when each read limit is longer",
          "[gitops][repository][deadline]") {
  TempDir tmp;
  std::future<Result<FetchResult>> task;
  bool finished_in_time = false;
  {
    SilentRemote remote;
    RepoConfig config;
    config.url = remote.url();
    config.state_dir = (tmp.path / "state").string();
    config.io_timeout = Duration(60'000);
    config.fetch_timeout = Duration(400);
    task = start_fetch(config);
    finished_in_time = task.wait_for(3s) == std::future_status::ready;
  }
  CHECK(finished_in_time);
  auto result = finish(task);
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().code() == StatusCode::kDeadlineExceeded);
  CHECK_THAT(result.status().message(), Catch::Contains("deadline of 400ms"));
}

TEST_CASE("a connect that never completes is bounded by connect_timeout",
          "[gitops][repository][deadline]") {
  // A listener with a full accept queue that never accepts: on Linux further SYNs are dropped,
  // so the client's connect stays in progress.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 0) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  // Fill the backlog with connections nobody accepts.
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(c);
  }
  std::this_thread::sleep_for(50ms);
  TempDir tmp;
  RepoConfig config;
  config.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/repo.git";
  config.state_dir = (tmp.path / "state").string();
  config.connect_timeout = Duration(300);
  config.io_timeout = Duration(300);
  config.fetch_timeout = Duration(20'000);
  auto task = start_fetch(config);
  bool finished_in_time = task.wait_for(3s) == std::future_status::ready;
  CHECK(finished_in_time);
  // The kernel retries the SYN for about two minutes: without a connect limit the fetch waits
  // that long; closing the listener makes it fail at once.
  ::close(fd);
  auto result = finish(task);
  for (int c : fillers) ::close(c);
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().code() == StatusCode::kDeadlineExceeded);
  CHECK_THAT(result.status().message(), Catch::Contains("connect to"));
}

TEST_CASE("a stalled remote is an error in the source status and polling goes on",
          "[gitops][watcher][deadline]") {
  TempDir tmp;
  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  std::thread loop([&] { ioc.run(); });
  std::unique_ptr<Watcher> watcher;
  struct Teardown {  // runs after the remote is gone, even when a REQUIRE failed
    std::unique_ptr<Watcher>& w;
    decltype(guard)& g;
    std::thread& t;
    ~Teardown() {
      if (w) w->stop();
      g.reset();
      t.join();
    }
  } teardown{watcher, guard, loop};
  SilentRemote remote;
  SeededRandom random{3};
  RepoConfig config;
  config.url = remote.url();
  config.state_dir = (tmp.path / "state").string();
  config.io_timeout = Duration(200);
  config.fetch_timeout = Duration(2'000);
  WatcherOptions options;
  options.poll = Duration(100);
  options.max_backoff = Duration(200);
  options.jitter = 0;
  watcher = std::make_unique<Watcher>(
      ioc.get_executor(), SystemClock::instance(), random, config, options,
      [](const std::shared_ptr<const Snapshot>&, const SetDiff&) { return Status::ok(); });
  watcher->start();

  // sync answers (with the error) instead of waiting for ever.
  std::mutex m;
  std::condition_variable cv;
  std::optional<Result<SourceStatus>> answer;
  watcher->sync([&](const Result<SourceStatus>& r) {
    std::lock_guard lock(m);
    answer = r;
    cv.notify_all();
  });
  {
    std::unique_lock lock(m);
    cv.wait_for(lock, 5s, [&] { return answer.has_value(); });
  }
  REQUIRE(answer.has_value());
  CHECK_FALSE(answer->is_ok());
  CHECK(answer->status().code() == StatusCode::kDeadlineExceeded);

  SourceStatus status = watcher->status();
  REQUIRE(status.error.has_value());
  CHECK_THAT(status.error->message, Catch::Contains("timed out"));
  CHECK(status.consecutive_failures >= 1);

  // The next polls keep coming: more failed fetches, each one a new connection.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline && watcher->status().fetch_failures < 4)
    std::this_thread::sleep_for(20ms);
  CHECK(watcher->status().fetch_failures >= 4);
  CHECK(remote.accepted() >= 4);
}
