// Spawn, environment, readiness, crash loops, bad commands, stopping, ports and log rotation,
// with real sluice-testsvc processes.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>

#include "tests/integration/runtime/runtime_fixture.h"
#include "tests/support/paths/paths.h"

using namespace sluice;
using namespace sluice::runtime;
using namespace sluice::runtime::testing;
using namespace std::chrono_literals;

namespace {
bool process_exists(int pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }
}  // namespace

TEST_CASE("an instance becomes ready when its readiness probe passes - with its environment") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({"--ready-after-ms", "400"});
  spec.pod.readiness_probe = http_probe("/ready");
  spec.pod.env = {{"GREETING", "hello-$(PORT)"}};
  f.rt->scale(spec, 1);

  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  auto inst = *f.only();
  CHECK_FALSE(inst.ready);
  CHECK(inst.started);
  CHECK(inst.revision == 1);
  const int port = inst.ports.at("http");
  CHECK(port > 0);

  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only();
        return i && i->ready;
      },
      5s));
  inst = *f.only();
  CHECK(inst.restarts == 0);
  CHECK(inst.ready_since >= inst.started_at);

  CHECK(http_call(port, "/env/PORT").body == std::to_string(port));
  CHECK(http_call(port, "/env/PORT_HTTP").body == std::to_string(port));
  CHECK(http_call(port, "/env/GREETING").body == "hello-" + std::to_string(port));
  CHECK(http_call(port, "/env/SLUICE_ROLLOUT").body == "svc");
  CHECK(http_call(port, "/env/SLUICE_REVISION").body == "1");
  CHECK(http_call(port, "/env/SLUICE_VERSION").body == "1.2.3");
  CHECK(http_call(port, "/env/SLUICE_INSTANCE").body == inst.id);
  // The role is in the file only (an env cannot follow a promotion), and the file path is
  // absolute.
  CHECK(http_call(port, "/env/SLUICE_ROLE").status == 404);
  CHECK(http_call(port, "/env/SLUICE_ROLE_FILE").body.rfind("/", 0) == 0);
  CHECK(http_call(port, "/info").body.find("\"role\":\"canary\"") != std::string::npos);

  f.rt->set_role("svc", 1, InstanceRole::kStable);
  REQUIRE(f.wait_for(
      [&] {
        return http_call(port, "/info").body.find("\"role\":\"stable\"") != std::string::npos;
      },
      3s));
  CHECK(f.only()->pid == inst.pid);  // a role change never restarts
  CHECK(http_call(port, "/env/SLUICE_ROLE").status == 404);  // nothing says "canary" any more
}

TEST_CASE("orders-api spawned as a canary reports role stable in /metrics once promoted") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({});
  spec.pod.command = {sluice::test::bin_dir() + "/orders-api", "--port", "$(PORT)", "--version",
                      "2.0.0"};
  spec.pod.readiness_probe = http_probe("/healthz");
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only();
        return i && i->ready;
      },
      10s));
  const int port = f.only()->ports.at("http");
  const std::string canary = "role=\"canary\"", stable = "role=\"stable\"";
  std::string metrics = http_call(port, "/metrics").body;
  INFO(metrics);
  CHECK(metrics.find(canary) != std::string::npos);
  CHECK(metrics.find("role=\"unknown\"") == std::string::npos);

  f.rt->set_role("svc", 1, InstanceRole::kStable);
  REQUIRE(f.wait_for(
      [&] {
        metrics = http_call(port, "/metrics").body;
        return metrics.find(stable) != std::string::npos;
      },
      3s));
  CHECK(metrics.find(canary) == std::string::npos);
}

TEST_CASE("a crashing instance restarts with exponential back-off - counted") {
  RuntimeFixture f;
  f.rt->scale(f.spec({"--crash-after-ms", "0", "--exit-code", "3"}), 1);
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only();
        return i && i->restarts >= 3;
      },
      8s));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Back-off 100 + 200 + 400 ms before the third restart (base 100 ms).
  CHECK(elapsed >= 700ms);
  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only();
        return i && i->last_exit && i->pid == 0;
      },
      3s));
  auto inst = *f.only();
  REQUIRE(inst.last_exit->exit_code.has_value());
  CHECK(*inst.last_exit->exit_code == 3);
  CHECK(inst.crash_loop);
  CHECK_FALSE(inst.ready);
}

TEST_CASE("a command that cannot start is an instance error with errno text - and backs off") {
  RuntimeFixture f;
  const std::string not_exec = f.checkout_dir + "/not-executable";
  std::ofstream(not_exec) << "data\n";
  chmod(not_exec.c_str(), 0644);
  std::filesystem::create_directories(f.dir.path() + "/outside");

  struct Case {
    std::string name;
    std::vector<std::string> command;
    std::string working_dir;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"missing", {"./does-not-exist"}, ".", "No such file or directory"},
      {"notexec", {"./not-executable"}, ".", "Permission denied"},
      {"nodir", {testsvc_path()}, "missing-dir", "missing-dir"},
      {"escape", {testsvc_path()}, "../outside", "leaves the checkout"},
      {"absolute", {testsvc_path()}, "/tmp", "relative"},
  };
  for (const auto& c : cases) {
    RevisionSpec spec = f.spec({}, c.name);
    spec.pod.command = c.command;
    spec.pod.working_dir = c.working_dir;
    f.rt->scale(spec, 1);
  }
  f.run_for(1000ms);
  for (const auto& c : cases) {
    INFO(c.name);
    auto inst = f.only(c.name);
    REQUIRE(inst);
    CHECK(inst->pid == 0);
    CHECK(inst->last_error.find(c.expect) != std::string::npos);
    // 1 s with a 100 ms base allows at most attempts at 0, 100, 300, 700 ms: no busy loop.
    CHECK(inst->restarts <= 4);
    CHECK(inst->restarts >= 1);
  }
}

TEST_CASE("graceful stop: before_stop then SIGTERM - the instance is gone") {
  RuntimeFixture f;
  std::vector<std::string> drained;
  f.rt->set_before_stop([&](const InstanceStatus& s) { drained.push_back(s.id); });
  RevisionSpec spec = f.spec({});
  spec.pod.readiness_probe = http_probe("/healthz");
  // One at a time, so svc-1-1 has been ready for less time than svc-1-0.
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->ready;
  }));
  f.rt->scale(spec, 2);
  REQUIRE(f.wait_for([&] {
    auto all = f.observe();
    return all.size() == 2 && all[0].ready && all[1].ready;
  }));
  const auto all = f.observe();
  f.rt->scale(spec, 1);
  // Both ready: the one ready for less time (here also the newest) goes.
  REQUIRE(f.wait_for([&] { return f.observe().size() == 1; }, 5s));
  REQUIRE(drained.size() == 1);
  CHECK(drained[0] == "svc-1-1");
  CHECK(f.observe()[0].id == "svc-1-0");
  const int stopped_pid = all[0].id == "svc-1-1" ? all[0].pid : all[1].pid;
  CHECK_FALSE(process_exists(stopped_pid));

  const auto start = std::chrono::steady_clock::now();
  f.rt->scale(spec, 0);
  REQUIRE(f.wait_for([&] { return f.observe().empty(); }, 5s));
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);  // SIGTERM honoured, no SIGKILL wait
  CHECK(f.rt->rollouts().empty());
}

TEST_CASE("scale-down stops an unready instance before a ready one - even an older one") {
  RuntimeFixture f;
  // svc-1-0 never turns ready within the test; svc-1-1 (same revision, started later with
  // another spec) does. The old "newest first" rule would stop the ready svc-1-1.
  RevisionSpec slow = f.spec({"--ready-after-ms", "60000"});
  slow.pod.readiness_probe = http_probe("/ready");
  f.rt->scale(slow, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  RevisionSpec quick = f.spec({});
  quick.pod.readiness_probe = http_probe("/ready");
  f.rt->scale(quick, 2);
  REQUIRE(f.wait_for([&] {
    for (const auto& i : f.observe()) {
      if (i.id == "svc-1-1" && i.ready) return true;
    }
    return false;
  }));
  f.rt->scale(quick, 1);
  REQUIRE(f.wait_for([&] { return f.observe().size() == 1; }, 5s));
  CHECK(f.observe()[0].id == "svc-1-1");
  CHECK(f.observe()[0].ready);
}

TEST_CASE("forced stop: SIGTERM ignored - SIGKILL after the grace period") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({"--ignore-sigterm"});
  spec.pod.termination_grace_period = Duration(400);
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  const int pid = f.only()->pid;
  REQUIRE(
      f.wait_for([&] { return http_call(f.only()->ports.at("http"), "/healthz").status == 200; }));
  const auto start = std::chrono::steady_clock::now();
  f.rt->scale(spec, 0);
  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only();
        return i && i->terminating;
      },
      2s));
  REQUIRE(f.wait_for([&] { return f.observe().empty(); }, 5s));
  CHECK(std::chrono::steady_clock::now() - start >= 400ms);
  CHECK_FALSE(process_exists(pid));
}

TEST_CASE("many instances started at once get distinct ports and all become ready") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({});
  spec.pod.ports = {{"http", 0}, {"admin", 0}};
  spec.pod.readiness_probe = http_probe("/healthz");
  constexpr int kReplicas = 12;
  f.rt->scale(spec, kReplicas);
  REQUIRE(f.wait_for(
      [&] {
        auto all = f.observe();
        if (all.size() != kReplicas) return false;
        for (const auto& i : all) {
          if (!i.ready) return false;
        }
        return true;
      },
      15s));
  std::set<int> ports;
  for (const auto& i : f.observe()) {
    CHECK(i.restarts == 0);
    ports.insert(i.ports.at("http"));
    ports.insert(i.ports.at("admin"));
  }
  CHECK(ports.size() == 2 * kReplicas);
}

TEST_CASE("log rotation bounds an output flood") {
  RuntimeFixture f;
  f.options.log_max_bytes = 256 * 1024;
  f.restart_runtime();
  f.rt->scale(f.spec({"--flood-forever"}), 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  const std::string log = f.state_dir + "/runtime/logs/svc-1-0.log";
  // Let it write several times the limit.
  REQUIRE(f.wait_for([&] { return std::filesystem::exists(log + ".1"); }, 5s));
  f.run_for(1000ms);
  std::error_code ec;
  const auto total =
      std::filesystem::file_size(log, ec) + std::filesystem::file_size(log + ".1", ec);
  // 2 x limit plus what one check interval (50 ms) of flooding can add.
  CHECK(total < 8u * 1024 * 1024);
  CHECK(std::filesystem::file_size(log + ".1", ec) <= f.options.log_max_bytes);
}
