// bench_push: push to rollout, end to end (issue 22, part 5). The real release `sluice serve`
// watches a Git repository in a temp dir (a plain file repository, the "remote") and runs
// orders-api by rolling update (2 instances, maxSurge 1) on the local process runtime. For each
// push the bench commits a new version to the repository, then POSTs a GitHub push webhook
// (HMAC-SHA256 signed with the secret serve has, X-GitHub-Event: push) and times:
//   from just before the POST is written,
//   to the moment the runtime opens the new revision's first instance log
//      (<state>/runtime/runtime/logs/shop-<revision>-0.log, created by the supervisor right
//      before it forks the instance: the first scale action of the new revision reaching the
//      runtime; seen with inotify by a thread that only timestamps).
// Between pushes the bench waits until the rollout is Healthy at the new version, so every push
// starts from rest. Webhook-only: serve polls every hour during these pushes.
// Peers, measured in the same run:
//   git fetch: the git CLI fetching the same new commit into a bare mirror (process start
//              included): the floor of any controller that fetches a repository on a push.
//   polling:   the same pushes without the webhook, with serve's --poll 2s (how Argo CD and Flux
//              learn of a commit by default, every 3 min and every 1 min: their expected delay is
//              half of that, 90 s and 30 s, with this same shape).
//
// Usage: bench_push [--pushes N] (default 60) [--polled N] (default 10) [--keep-log FILE] (a
// copy of serve's log of the webhook pushes, for a breakdown). Loopback only; bounded
// (every wait has a deadline; about 1-2 minutes).
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/support/e2e_probe.h"
#include "gitops/webhook_verify.h"
#include "tests/e2e/rollouts/e2e_env.h"

namespace {

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;
using sluice::bench::http_call;
using sluice::bench::percentile;
using sluice::bench::steady_ns;

const std::string kSecret = "bench-push-webhook-secret-0123456789";
const std::string kStrategy = "    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}";

// Timestamps every file created in a directory (inotify IN_CREATE), from its own thread.
class CreationWatch {
 public:
  explicit CreationWatch(const std::string& dir) {
    std::filesystem::create_directories(dir);
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0 || inotify_add_watch(fd_, dir.c_str(), IN_CREATE) < 0) {
      throw std::runtime_error("inotify on " + dir + ": " + std::strerror(errno));
    }
    thread_ = std::thread([this] { loop(); });
  }
  ~CreationWatch() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  // Steady ns at which `name` was created (0: not yet).
  int64_t created(const std::string& name) {
    std::lock_guard lock(mu_);
    for (const auto& [n, at] : seen_) {
      if (n == name) return at;
    }
    return 0;
  }

 private:
  void loop() {
    alignas(inotify_event) char buf[8192];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = read(fd_, buf, sizeof buf);
      const int64_t at = sluice::bench::steady_ns();
      for (ssize_t off = 0; off < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
        if (e->len > 0) {
          std::lock_guard lock(mu_);
          seen_.emplace_back(e->name, at);
        }
        off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    }
  }
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::pair<std::string, int64_t>> seen_;
  std::thread thread_;
};

struct Series {
  std::vector<double> ms;
  std::vector<double> ack_ms;    // webhook POST -> its 202
  std::vector<double> fetch_ms;  // the git CLI floor
  int failed = 0;
  std::string why;
  void fail(const std::string& reason) {
    ++failed;
    if (why.empty()) why = reason;
  }
};

double ms_between(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

bool healthy_at(E2eEnv& env, const std::string& version, int64_t* revision) {
  bool held = false;
  auto r = env.wait_rollout(
      "shop",
      [&](const json& o) {
        return o.value("phase", "") == "Healthy" && o["desired"].value("version", "") == version;
      },
      60s, &held);
  if (held && revision) *revision = r["desired"].value("revision", int64_t{0});
  return held;
}

// Runs argv to completion (bounded); true on exit 0.
bool run(const std::vector<std::string>& argv, const std::string& log) {
  auto child = ChildProcess::spawn(argv, {}, log);
  return child && (*child)->wait_exit(std::chrono::seconds(30)) == 0;
}

// `pushes` commits, each followed by a webhook (or not: polling), each timed to the new
// revision's first instance log.
Series run_pushes(E2eEnv& env, int front, int pushes, bool webhook, int& serial,
                  const std::string& mirror) {
  Series s;
  CreationWatch logs(env.state_dir() + "/runtime/runtime/logs");
  int64_t revision = 0;
  if (!healthy_at(env, fmt::format("1.0.{}", serial), &revision)) {
    s.fail("not healthy before the pushes");
    return s;
  }
  for (int i = 0; i < pushes && s.failed < 3; ++i) {
    const std::string version = fmt::format("1.0.{}", ++serial);
    env.write("shop.yaml", orders_api_manifest(env, "shop", version, front, kStrategy));
    const std::string sha = env.commit("shop " + version);
    const std::string first_log = fmt::format("shop-{}-0.log", revision + 1);
    int64_t start = steady_ns();
    if (webhook) {
      const std::string body =
          json{{"ref", "refs/heads/main"}, {"after", sha}, {"repository", {{"name", "repo"}}}}
              .dump();
      start = steady_ns();
      auto answer =
          http_call(static_cast<unsigned short>(env.api_port()), "POST", "/api/v1/webhooks/github",
                    {"Content-Type: application/json", "X-GitHub-Event: push",
                     "X-Hub-Signature-256: " + sluice::gitops::github_signature(kSecret, body)},
                    body);
      if (answer.status != 202) {
        s.fail(fmt::format("webhook answered {}: {}", answer.status, answer.body));
        continue;
      }
      s.ack_ms.push_back(ms_between(start, steady_ns()));
    }
    // Polling: the clock starts at the commit, as a user sees it (the push is the commit here).
    if (!poll_until([&] { return logs.created(first_log) != 0; }, 30s)) {
      s.fail("no instance of revision " + std::to_string(revision + 1) + " within 30 s");
    } else {
      s.ms.push_back(ms_between(start, logs.created(first_log)));
    }
    if (!healthy_at(env, version, &revision)) {
      s.fail("revision of " + version + " did not become healthy");
      break;
    }
    if (webhook) {
      // The floor: the git CLI fetches the same commit into its own bare mirror.
      const int64_t fetch_start = steady_ns();
      if (run({"/usr/bin/git", "-C", mirror, "fetch", "-q", "origin",
               "+refs/heads/main:refs/heads/main"},
              env.dir() + "/git-fetch.log")) {
        s.fetch_ms.push_back(ms_between(fetch_start, steady_ns()));
      } else {
        s.fail("git fetch failed");
      }
    }
  }
  return s;
}

void print(const char* name, const std::vector<double>& ms) {
  std::printf("  %-40s n=%zu  median %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", name, ms.size(),
              percentile(ms, 50), percentile(ms, 99), percentile(ms, 100));
}

}  // namespace

int main(int argc, char** argv) {
  int pushes = 60, polled = 10;
  std::string keep_log;  // --keep-log FILE: a copy of serve's log of the webhook pushes
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--keep-log") == 0) keep_log = argv[i + 1];
    if (std::strcmp(argv[i], "--pushes") == 0) pushes = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--polled") == 0) polled = std::atoi(argv[i + 1]);
  }
  pushes = std::clamp(pushes, 1, 500);
  polled = std::clamp(polled, 1, 50);

  E2eEnv env;
  const int front = free_loopback_port();
  const std::string secret_file = env.dir() + "/webhook-secret";
  std::ofstream(secret_file) << kSecret;
  std::filesystem::permissions(
      secret_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  env.set_serve_args({"--webhook-secret-file", secret_file});
  env.set_serve_poll("1h");
  int serial = 0;
  env.write("shop.yaml", orders_api_manifest(env, "shop", "1.0.0", front, kStrategy));
  env.commit("shop 1.0.0");
  const std::string mirror = env.dir() + "/cli-mirror.git";
  std::string why;
  if (!run({"/usr/bin/git", "clone", "-q", "--bare", env.repo(), mirror},
           env.dir() + "/git-clone.log") ||
      !env.start_serve(why)) {
    std::printf("bench_push did not run: %s\n", why.empty() ? "git clone failed" : why.c_str());
    return 1;
  }
  const auto started = std::chrono::steady_clock::now();
  const Series hooked = run_pushes(env, front, pushes, true, serial, mirror);
  if (!keep_log.empty()) {
    std::filesystem::copy_file(env.serve_log_path(), keep_log,
                               std::filesystem::copy_options::overwrite_existing);
  }
  env.kill_serve(SIGTERM);
  env.set_serve_poll("2s");
  Series polling;
  if (!env.start_serve(why)) {
    polling.fail(why);
  } else {
    polling = run_pushes(env, front, polled, false, serial, mirror);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::printf(
      "push to rollout, end to end: sluice serve (release, --poll 1h, GitHub webhook with "
      "X-Hub-Signature-256) on a file repository, orders-api by rolling update (2 instances, "
      "maxSurge 1) on the local process runtime (%.0f s)\n",
      seconds);
  std::printf(
      "  measured from the webhook POST to the runtime opening the new revision's first instance "
      "log (right before it forks it); each push from rest\n");
  if (hooked.ms.empty()) {
    std::printf("  webhook pushes: no measurement: %s\n", hooked.why.c_str());
    return 1;
  }
  print("webhook push -> first new instance", hooked.ms);
  print("  webhook answered (202)", hooked.ack_ms);
  print("peer: git fetch (git CLI, bare mirror)", hooked.fetch_ms);
  if (!polling.ms.empty()) {
    print("peer: sluice polling (--poll 2s)", polling.ms);
  } else {
    std::printf("  peer: sluice polling: no measurement: %s\n", polling.why.c_str());
  }
  const double median = percentile(hooked.ms, 50);
  std::printf("  ratio (median): %.1fx the git CLI's fetch alone",
              median / std::max(percentile(hooked.fetch_ms, 50), 1e-3));
  if (!polling.ms.empty()) {
    std::printf("; polling every 2 s takes %.0fx longer", percentile(polling.ms, 50) / median);
  }
  std::printf(
      "\n  (Argo CD polls every 3 min, Flux every 1 min by default: an expected 90 s and 30 s, "
      "%.0fx and %.0fx this median)\n",
      90'000 / median, 30'000 / median);
  {
    // Which pushes were slowest (a first push that pays a cold start shows here).
    std::vector<size_t> order(hooked.ms.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return hooked.ms[a] > hooked.ms[b]; });
    std::printf("  slowest pushes:");
    for (size_t i = 0; i < std::min<size_t>(3, order.size()); ++i) {
      std::printf(" #%zu %.1f ms", order[i] + 1, hooked.ms[order[i]]);
    }
    std::printf("\n");
  }
  if (hooked.failed) std::printf("  %d failed: %s\n", hooked.failed, hooked.why.c_str());
  const bool met = percentile(hooked.ms, 99) <= 100.0 && hooked.failed == 0;
  std::printf("goal (p99 <= 100 ms over %zu pushes): %s (p99 %.2f ms)\n", hooked.ms.size(),
              met ? "met" : "NOT met", percentile(hooked.ms, 99));
  return met ? 0 : 1;
}
