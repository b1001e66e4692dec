// bench_gitops: the GitOps source's hot paths on real local repositories.
//   1. commit -> desired state ready through the watcher's refresh path (median, p99)
//   2. a repository of 1,000 Rollouts (one per file): full parse + diff (target <= 200 ms)
//   3. a one-file change with the per-blob parse cache vs the full parse (ratio)
// Bounded: fixed iteration counts, every wait has a deadline.
#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "git_fixture.h"
#include "gitops/diff.h"
#include "gitops/repository.h"
#include "gitops/snapshot.h"
#include "gitops/watcher.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;
using BenchClock = std::chrono::steady_clock;

namespace {

double ms_since(BenchClock::time_point t0) {
  return std::chrono::duration<double, std::milli>(BenchClock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void bench_refresh_path() {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  for (int i = 0; i < 10; ++i)
    work.write("svc/r" + std::to_string(i) + ".yaml",
               rollout_yaml("r" + std::to_string(i), 2, "0"));
  work.commit("initial");

  boost::asio::io_context ioc;
  auto guard = boost::asio::make_work_guard(ioc);
  std::thread loop([&] { ioc.run(); });
  std::mutex mu;
  std::condition_variable cv;
  std::string applied_sha;
  SeededRandom random(1);
  RepoConfig config;
  config.url = work.dir.string();
  config.path = "svc";
  config.state_dir = (tmp.path / "state").string();
  WatcherOptions options;
  options.poll = Duration(3'600'000);  // only refresh() fetches
  Watcher watcher(ioc.get_executor(), SystemClock::instance(), random, config, options,
                  [&](const std::shared_ptr<const Snapshot>& s, const SetDiff&) {
                    std::lock_guard lock(mu);
                    applied_sha = s->commit.sha;
                    cv.notify_all();
                    return Status::ok();
                  });
  watcher.start();
  auto wait_for = [&](const std::string& sha) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return applied_sha == sha; });
  };
  wait_for(work.head());

  std::vector<double> samples;
  for (int i = 1; i <= 40; ++i) {
    work.write("svc/r" + std::to_string(i % 10) + ".yaml",
               rollout_yaml("r" + std::to_string(i % 10), 2, std::to_string(i)));
    std::string sha = work.commit("change " + std::to_string(i));  // not timed: the git CLI
    auto t0 = BenchClock::now();
    watcher.refresh("bench");
    if (!wait_for(sha)) {
      std::printf("refresh path: commit %d not applied within 10 s\n", i);
      break;
    }
    samples.push_back(ms_since(t0));
  }
  watcher.stop();
  guard.reset();
  loop.join();
  if (!samples.empty())
    std::printf(
        "commit->desired state (refresh, 10 rollouts): median %.2f ms, p99 %.2f ms (n=%zu)\n",
        percentile(samples, 0.5), percentile(samples, 0.99), samples.size());
}

void bench_large_repo() {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  const int kRollouts = 1000;
  for (int i = 0; i < kRollouts; ++i)
    work.write("svc/team" + std::to_string(i % 20) + "/r" + std::to_string(i) + ".yaml",
               rollout_yaml("r" + std::to_string(i), 2, "1.0"));
  std::string a = work.commit("1000 rollouts");
  work.write("svc/team7/r7.yaml", rollout_yaml("r7", 2, "1.1"));
  std::string b = work.commit("one file");
  auto repo = GitRepository::open_existing(work.dir.string());
  if (!repo) {
    std::printf("cannot open repo: %s\n", repo.status().message().c_str());
    return;
  }

  SnapshotBuilder builder("svc");
  auto base = builder.build((*repo)->raw(), a);
  if (!base || !base->ok()) {
    std::printf("large repo: snapshot invalid\n");
    return;
  }
  std::vector<double> full, incremental;
  for (int i = 0; i < 7; ++i) {
    builder.clear_cache();
    auto t0 = BenchClock::now();
    auto snap = builder.build((*repo)->raw(), b);
    SetDiff diff = diff_sets(base->manifests, snap->manifests);
    full.push_back(ms_since(t0));
    if (diff.find("r7")->kind != ChangeKind::kTemplateChanged) std::printf("unexpected diff\n");
  }
  for (int i = 0; i < 7; ++i) {
    builder.clear_cache();
    (void)builder.build((*repo)->raw(), a);  // warm: every blob of a cached
    auto t0 = BenchClock::now();
    auto snap = builder.build((*repo)->raw(), b);
    SetDiff diff = diff_sets(base->manifests, snap->manifests);
    incremental.push_back(ms_since(t0));
    if (builder.last_stats().files_parsed != 1) std::printf("unexpected re-parse count\n");
  }
  double full_ms = percentile(full, 0.5);
  double inc_ms = percentile(incremental, 0.5);
  std::printf("1000 rollouts, full parse + diff: median %.1f ms (target <= 200 ms)\n", full_ms);
  std::printf("1000 rollouts, one-file change (blob cache) + diff: median %.1f ms\n", inc_ms);
  std::printf("one-file re-parse vs full parse: ratio %.3f (%.1fx faster)\n", inc_ms / full_ms,
              full_ms / inc_ms);
}

}  // namespace

int main() {
  bench_large_repo();
  bench_refresh_path();
  return 0;
}
