// Reconcile cost per rollout (median µs over rounds) and RSS with 1,000 rollouts of which 100
// are progressing, on a SimulatedClock with the fakes, writing its records to the real journal
// (controller/journal.h in a temporary directory, with serve's fsync policy and snapshots), as
// `sluice serve` does. Peers in the same run: the pure strategies::decide() alone for the same
// rollouts, so the ratio shows the controller's overhead (observe, records, act, route, read
// model), and the same steady state with a null sink, so the journal's share is visible.
// Bounded: a fixed number of rounds and simulated seconds.
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "base/filesystem.h"
#include "controller/controller.h"
#include "controller/journal.h"
#include "controller/journal_sink.h"
#include "tests/support/fakes/fake_analysis.h"
#include "tests/support/fakes/fake_router.h"
#include "tests/support/fakes/fake_runtime.h"

using namespace sluice;
using namespace sluice::controller;

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

manifests::Rollout rollout(int i, const std::string& version) {
  manifests::Rollout r;
  r.metadata.name = "svc-" + std::to_string(i);
  r.spec.replicas = 3;
  r.spec.template_.version = version;
  r.spec.template_.command = {"./bin/app"};
  r.spec.template_.ports = {{"http", 0}};
  r.spec.service = manifests::ServiceSpec{"127.0.0.1:" + std::to_string(20000 + i), "http"};
  manifests::CanaryStrategy c;
  c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
  c.steps = {manifests::SetWeightStep{20}, manifests::PauseStep{}};
  r.spec.strategy = c;
  return r;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct SteadyResult {
  double cpu_seconds = 0;
  int started = 0;
  int progressing_at_end = 0;
  uint64_t journal_bytes = 0;
};

constexpr int kRollouts = 1000;
constexpr int kProgressing = 100;
constexpr int kRounds = 15;
constexpr int kSteadySeconds = 60;

// Steady state: 60 s of the controller's own timeline with 1,000 services of which 100 keep
// rolling out (timed canary steps; a rollout that finishes gets the next version at once, one
// commit per second for all of them, as GitOps would deliver it). Everything the controller
// schedules runs (requeues, step timers, fake probes and analyses); the CPU it costs divided by
// the 60 s it covers is the share of one core the controller needs for that fleet. With a
// journal, the CPU includes its encoding and writes; fsync waits are not CPU, so the wall time
// is printed as well.
SteadyResult steady_state(EventSink& sink, Journal* journal, double* wall_seconds) {
  SimulatedClock clock;
  SimulatedScheduler scheduler(clock);
  fakes::FakeRuntime runtime(clock);
  fakes::FakeRouter router;
  fakes::FakeAnalysisRunner analysis(clock);
  Controller controller({clock, scheduler, runtime, router, analysis, sink});
  runtime.set_listener([&](const std::string& r) { controller.enqueue(r); });
  DesiredState d;
  d.commit = "c1";
  for (int i = 0; i < kRollouts; ++i) d.manifests.rollouts.push_back({rollout(i, "1"), {}});
  controller.apply_desired(d);
  clock.advance(Duration(5000));
  for (int i = 0; i < kProgressing; ++i) {
    manifests::CanaryStrategy c;
    c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
    c.steps = {manifests::SetWeightStep{20}, manifests::PauseStep{Duration(2000)},
               manifests::SetWeightStep{50}, manifests::PauseStep{Duration(2000)},
               manifests::SetWeightStep{80}, manifests::PauseStep{Duration(2000)}};
    d.manifests.rollouts[i].rollout.spec.strategy = c;
  }
  SteadyResult out;
  int next_version = 2;
  const double cpu0 = process_cpu_seconds();
  const auto wall0 = std::chrono::steady_clock::now();
  for (int tick = 0; tick < kSteadySeconds * 10; ++tick) {
    if (tick % 10 == 0) {
      bool changed = false;
      for (int i = 0; i < kProgressing; ++i) {
        const auto& name = d.manifests.rollouts[i].rollout.metadata.name;
        auto it = controller.states().find(name);
        if (it != controller.states().end() && it->second.status.in_progress()) continue;
        d.manifests.rollouts[i].rollout.spec.template_.version = std::to_string(next_version);
        changed = true;
        ++out.started;
      }
      if (changed) {
        d.commit = "c" + std::to_string(next_version++);
        controller.apply_desired(d);
      }
      // serve's timers: an idle journal still syncs, and snapshots are taken between reconciles.
      if (journal) {
        if (!journal->maybe_sync().is_ok()) std::fprintf(stderr, "journal sync failed\n");
        if (journal->snapshot_due() && journal->sync().is_ok() &&
            !journal->write_snapshot(journal->last_seq(), controller.snapshot().dump()).is_ok())
          std::fprintf(stderr, "journal snapshot failed\n");
      }
    }
    clock.advance(Duration(100));
  }
  out.cpu_seconds = process_cpu_seconds() - cpu0;
  *wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  for (const auto& [name, state] : controller.states())
    out.progressing_at_end += state.status.in_progress();
  return out;
}

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

}  // namespace

int main() {
  const long rss_before = rss_kib();
  char tmpl[] = "/tmp/sluice-bench-controller-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  JournalOptions jo;  // serve's policy (cli/serve_wiring.cc)
  jo.dir = dir + "/journal";
  jo.sync_every = Duration(20);
  jo.snapshot_every_records = 5'000;
  auto opened = Journal::open(PosixFilesystem::instance(), SystemClock::instance(), jo);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "bench_controller: %s\n", opened.status().message().c_str());
    return 1;
  }
  std::unique_ptr<Journal> journal = std::move(*opened);
  JournalSink journal_sink(std::move(journal), [] {
    return Result<std::unique_ptr<Journal>>(unavailable("the bench does not reopen its journal"));
  });

  SimulatedClock clock;
  SimulatedScheduler scheduler(clock);
  fakes::FakeRuntime runtime(clock);
  fakes::FakeRouter router;
  fakes::FakeAnalysisRunner analysis(clock);
  Controller controller({clock, scheduler, runtime, router, analysis, journal_sink});
  runtime.set_listener([&](const std::string& r) { controller.enqueue(r); });

  DesiredState d;
  d.commit = "c1";
  for (int i = 0; i < kRollouts; ++i) d.manifests.rollouts.push_back({rollout(i, "1"), {}});
  controller.apply_desired(d);
  clock.advance(Duration(5000));
  d.commit = "c2";
  for (int i = 0; i < kProgressing; ++i)
    d.manifests.rollouts[i].rollout.spec.template_.version = "2";
  controller.apply_desired(d);
  clock.advance(Duration(5000));

  std::vector<double> per_rollout_us;
  for (int round = 0; round < kRounds; ++round) {
    for (const auto& [name, state] : controller.states()) controller.enqueue(name);
    const auto t0 = std::chrono::steady_clock::now();
    clock.advance(Duration(0));
    const auto t1 = std::chrono::steady_clock::now();
    per_rollout_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() /
                             kRollouts);
  }
  // Peer: the pure decision for the same rollouts, no I/O.
  std::vector<double> decide_us;
  for (int round = 0; round < kRounds; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    size_t decided = 0;
    for (const auto& [name, state] : controller.states()) {
      strategies::Observed obs;
      for (const auto& inst : runtime.observe(name)) {
        auto& rev = obs.revisions[inst.revision];
        rev.instances++;
        rev.ready += inst.ready ? 1 : 0;
      }
      decided += strategies::decide(state.spec, state.status, obs, clock.now()).replicas.size();
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (decided == 0) std::fprintf(stderr, "decide() returned nothing\n");
    decide_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / kRollouts);
  }
  int progressing = 0;
  for (const auto& [name, state] : controller.states()) progressing += state.status.in_progress();
  const long rss_with_rollouts = rss_kib();

  // The steady state twice: with a fresh real journal (as serve), and with the null sink (peer).
  JournalOptions steady_jo = jo;
  steady_jo.dir = dir + "/steady-journal";
  auto steady_opened =
      Journal::open(PosixFilesystem::instance(), SystemClock::instance(), steady_jo);
  if (!steady_opened.is_ok()) {
    std::fprintf(stderr, "bench_controller: %s\n", steady_opened.status().message().c_str());
    return 1;
  }
  JournalSink steady_sink(std::move(*steady_opened), [] {
    return Result<std::unique_ptr<Journal>>(unavailable("the bench does not reopen its journal"));
  });
  double journal_wall = 0, null_wall = 0;
  SteadyResult with_journal = steady_state(steady_sink, steady_sink.journal(), &journal_wall);
  if (!steady_sink.flush_before_action().is_ok()) {
    std::fprintf(stderr, "bench_controller: the journal failed during the run\n");
    return 1;
  }
  with_journal.journal_bytes = dir_bytes(steady_jo.dir);
  NullEventSink null_sink;
  SteadyResult without = steady_state(null_sink, nullptr, &null_wall);

  const double reconcile_median = median(per_rollout_us);
  const double decide_median = median(decide_us);
  std::printf("bench_controller: %d rollouts, %d progressing (paused at a canary step), real "
              "journal in %s\n",
              kRollouts, progressing, dir.c_str());
  std::printf("reconcile per rollout (journal): median %.1f us\n", reconcile_median);
  std::printf("decide() alone (peer): median %.1f us\n", decide_median);
  std::printf("ratio reconcile/decide: %.1fx\n", reconcile_median / std::max(decide_median, 1e-3));
  std::printf("steady state, real journal: %d s of controller time, %d rollouts started (%d "
              "progressing at the end): %.3f s CPU = %.1f%% of one core (target < 25%%), "
              "%.2f s wall, %.1f MB journal\n",
              kSteadySeconds, with_journal.started, with_journal.progressing_at_end,
              with_journal.cpu_seconds, 100.0 * with_journal.cpu_seconds / kSteadySeconds,
              journal_wall, static_cast<double>(with_journal.journal_bytes) / 1e6);
  std::printf("steady state, null sink (peer): %d rollouts started: %.3f s CPU = %.1f%% of one "
              "core, %.2f s wall\n",
              without.started, without.cpu_seconds, 100.0 * without.cpu_seconds / kSteadySeconds,
              null_wall);
  std::printf("ratio journal/null CPU: %.2fx\n",
              with_journal.cpu_seconds / std::max(without.cpu_seconds, 1e-6));
  std::printf("RSS: %ld KiB before, %ld KiB with %d rollouts\n", rss_before, rss_with_rollouts,
              kRollouts);
  std::error_code ec;  // the sinks own the journals; removing their files under them is fine
  std::filesystem::remove_all(dir, ec);
  return 0;
}
