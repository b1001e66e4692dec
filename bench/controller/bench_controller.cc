// Reconcile cost per rollout (median µs over rounds) and RSS with 1,000 rollouts of which 100
// are progressing, on a SimulatedClock with the fakes. Peer in the same run: the pure
// strategies::decide() alone for the same rollouts, so the ratio shows the controller's overhead
// (observe, records, act, route, read model). Bounded: a fixed number of rounds.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include "controller/controller.h"
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

}  // namespace

int main() {
  constexpr int kRollouts = 1000;
  constexpr int kProgressing = 100;
  constexpr int kRounds = 15;
  SimulatedClock clock;
  SimulatedScheduler scheduler(clock);
  fakes::FakeRuntime runtime(clock);
  fakes::FakeRouter router;
  fakes::FakeAnalysisRunner analysis(clock);
  NullEventSink sink;
  Controller controller({clock, scheduler, runtime, router, analysis, sink});
  runtime.set_listener([&](const std::string& r) { controller.enqueue(r); });
  const long rss_before = rss_kib();

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
    size_t sink_size = 0;
    for (const auto& [name, state] : controller.states()) {
      strategies::Observed obs;
      for (const auto& inst : runtime.observe(name)) {
        auto& rev = obs.revisions[inst.revision];
        rev.instances++;
        rev.ready += inst.ready ? 1 : 0;
      }
      sink_size += strategies::decide(state.spec, state.status, obs, clock.now()).replicas.size();
    }
    const auto t1 = std::chrono::steady_clock::now();
    decide_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / kRollouts +
                        static_cast<double>(sink_size) * 0.0);
  }
  int progressing = 0;
  for (const auto& [name, state] : controller.states()) progressing += state.status.in_progress();

  // Steady state: 60 s of the controller's own timeline with 1,000 services of which 100 keep
  // rolling out (timed canary steps; a rollout that finishes gets the next version at once, one
  // commit per second for all of them, as GitOps would deliver it). Everything the controller
  // schedules runs (requeues, step timers, fake probes and analyses); the CPU it costs divided by
  // the 60 s it covers is the share of one core the controller needs for that fleet.
  constexpr int kSteadySeconds = 60;
  for (int i = 0; i < kProgressing; ++i) {
    manifests::CanaryStrategy c;
    c.traffic_routing = manifests::TrafficRouting{true, std::nullopt};
    c.steps = {manifests::SetWeightStep{20}, manifests::PauseStep{Duration(2000)},
               manifests::SetWeightStep{50}, manifests::PauseStep{Duration(2000)},
               manifests::SetWeightStep{80}, manifests::PauseStep{Duration(2000)}};
    d.manifests.rollouts[i].rollout.spec.strategy = c;
  }
  int next_version = 3;
  int started = 0;
  const double cpu0 = process_cpu_seconds();
  for (int tick = 0; tick < kSteadySeconds * 10; ++tick) {
    if (tick % 10 == 0) {
      bool changed = false;
      for (int i = 0; i < kProgressing; ++i) {
        const auto& name = d.manifests.rollouts[i].rollout.metadata.name;
        auto it = controller.states().find(name);
        // Tick 0 supersedes the rollouts paused above; later ticks restart the finished ones.
        if (tick > 0 && it != controller.states().end() && it->second.status.in_progress())
          continue;
        d.manifests.rollouts[i].rollout.spec.template_.version = std::to_string(next_version);
        changed = true;
        ++started;
      }
      if (changed) {
        d.commit = "c" + std::to_string(next_version++);
        controller.apply_desired(d);
      }
    }
    clock.advance(Duration(100));
  }
  const double steady_cpu = process_cpu_seconds() - cpu0;
  int steady_progressing = 0;
  for (const auto& [name, state] : controller.states())
    steady_progressing += state.status.in_progress();
  const double reconcile_median = median(per_rollout_us);
  const double decide_median = median(decide_us);
  std::printf("bench_controller: %d rollouts, %d progressing (paused at a canary step)\n",
              kRollouts, progressing);
  std::printf("reconcile per rollout: median %.1f us\n", reconcile_median);
  std::printf("decide() alone (peer): median %.1f us\n", decide_median);
  std::printf("ratio reconcile/decide: %.1fx\n", reconcile_median / std::max(decide_median, 1e-3));
  std::printf("steady state: %d s of controller time, %d rollouts started (%d progressing at the "
              "end): %.3f s CPU = %.1f%% of one core (target < 25%%)\n",
              kSteadySeconds, started, steady_progressing, steady_cpu,
              100.0 * steady_cpu / kSteadySeconds);
  std::printf("RSS: %ld KiB before, %ld KiB with %d rollouts\n", rss_before, rss_kib(), kRollouts);
  return 0;
}
