// Instances outlive the controller: a runtime in another process (sluice-runtime-host) starts
// them and is SIGKILLed; a new runtime on the same state dir adopts them without restarting,
// and restarts the one that died while no runtime was watching.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include <cstdio>

#include "base/process.h"
#include "runtime/proc.h"
#include "tests/integration/runtime/runtime_fixture.h"

using namespace sluice;
using namespace sluice::runtime;
using namespace sluice::runtime::testing;
using namespace std::chrono_literals;

TEST_CASE("a restarted runtime adopts running instances and restarts dead ones") {
  TempDir dir;
  const std::string state = dir.path() + "/state";
  const std::string checkout = dir.path() + "/checkout";
  const std::string ready_file = dir.path() + "/host-ready";
  std::filesystem::create_directories(checkout);

  SpawnRequest host;
  host.argv = {host_path(),  "--state",    state,
               "--checkout", checkout,     "--rollout",
               "svc",        "--revision", "1",
               "--replicas", "2",          "--ready-file",
               ready_file,   "--",         testsvc_path(),
               "--port",     "$(PORT)",    "--max-lifetime-ms",
               "60000"};
  host.env = current_environment();
  auto host_pid = spawn_process(host);
  REQUIRE(host_pid);

  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!std::filesystem::exists(ready_file) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(std::filesystem::exists(ready_file));

  // The controller dies hard.
  kill(*host_pid, SIGKILL);
  int status = 0;
  waitpid(*host_pid, &status, 0);

  RuntimeFixture f;  // gives us an io_context; its own runtime is replaced below
  f.state_dir = state;
  f.restart_runtime();
  auto before = f.observe();
  REQUIRE(before.size() == 2);
  const InstanceStatus survivor = before[0];
  const InstanceStatus victim = before[1];
  REQUIRE(survivor.pid > 0);
  REQUIRE(victim.pid > 0);
  const int port = survivor.ports.at("http");
  REQUIRE(http_call(port, "/healthz").status == 200);

  // Keep calling the survivor from another thread while we kill the victim and adopt.
  std::atomic<bool> stop{false};
  std::atomic<int> served{0}, failed{0};
  std::thread client([&] {
    for (int i = 0; i < 2000 && !stop; ++i) {
      (http_call(port, "/healthz").status == 200 ? served : failed)++;
      std::this_thread::sleep_for(5ms);
    }
  });

  // One instance dies while "no controller" watches (the new runtime has not run yet).
  kill(-victim.pid, SIGKILL);
  f.restart_runtime();  // a fresh runtime, as after a controller restart

  REQUIRE(f.wait_for(
      [&] {
        auto all = f.observe();
        if (all.size() != 2) return false;
        for (const auto& i : all) {
          if (!i.ready) return false;
        }
        return true;
      },
      10s));
  f.run_for(300ms);
  stop = true;
  client.join();

  for (const auto& i : f.observe()) {
    if (i.id == survivor.id) {
      // Evidence for the record (the checks below are what decide).
      std::printf(
          "adoption evidence: %s pid before SIGKILL of the controller %d, after adoption %d, "
          "restarts %d; %d calls served, %d failed during adoption\n",
          i.id.c_str(), survivor.pid, i.pid, i.restarts, served.load(), failed.load());
      CHECK(i.pid == survivor.pid);
      CHECK(i.restarts == 0);
      CHECK(i.ports == survivor.ports);
    } else {
      CHECK(i.id == victim.id);
      CHECK(i.pid != victim.pid);
      CHECK(i.restarts == 1);
      CHECK(i.last_exit.has_value());
    }
  }
  CHECK(failed == 0);
  CHECK(served > 0);

  // Adopted instances stop like our own.
  f.rt->set_before_stop([](const InstanceStatus&) {});
  RevisionSpec spec;  // the persisted spec is used; scale(0) only needs the identity
  spec.rollout = "svc";
  spec.revision = 1;
  spec.checkout_dir = checkout;
  spec.pod.ports = {{"http", 0}};
  spec.role = InstanceRole::kStable;
  f.rt->scale(spec, 0);
  REQUIRE(f.wait_for([&] { return f.observe().empty(); }, 6s));
  const auto stat = read_proc_stat(survivor.pid);  // not our child: may linger as a zombie
  CHECK((!stat || stat->state == 'Z' || stat->start_ticks != 0));
  CHECK_FALSE(is_same_live_process(survivor.pid, stat ? stat->start_ticks : 0));
}

TEST_CASE("scaling an adopted revision with the same spec does not restart it") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({});
  spec.pod.readiness_probe = http_probe("/healthz");
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->ready;
  }));
  const int pid = f.only()->pid;
  f.restart_runtime();
  CHECK(f.only()->pid == pid);  // visible at once, before the strand runs
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->ready;
  }));
  f.run_for(200ms);
  CHECK(f.observe().size() == 1);
  CHECK(f.only()->pid == pid);
  CHECK(f.only()->restarts == 0);
}
