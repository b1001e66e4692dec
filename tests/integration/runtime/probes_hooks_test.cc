// Liveness/startup/tcp/exec probes and lifecycle hooks (httpPost and exec).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <catch2/catch.hpp>

#include "tests/integration/runtime/runtime_fixture.h"

using namespace sluice;
using namespace sluice::runtime;
using namespace sluice::runtime::testing;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

manifests::LifecycleHandler http_hook(const std::string& path) {
  manifests::LifecycleHandler h;
  h.http_post = manifests::HttpGetAction{path, "http", "127.0.0.1", {}};
  h.timeout = Duration(1000);
  return h;
}

manifests::LifecycleHandler exec_hook(std::vector<std::string> command, int timeout_ms = 1000) {
  manifests::LifecycleHandler h;
  h.exec = manifests::ExecAction{std::move(command)};
  h.timeout = Duration(timeout_ms);
  return h;
}

std::optional<std::vector<HookResult>> run_hook(RuntimeFixture& f, HookKind kind) {
  std::optional<std::vector<HookResult>> results;
  f.rt->run_hook("svc", 1, kind, [&](std::vector<HookResult> r) { results = std::move(r); });
  f.wait_for([&] { return results.has_value(); }, 5s);
  return results;
}

}  // namespace

TEST_CASE("a failing liveness probe restarts the instance") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({"--healthz-fail-after-ms", "300"});
  spec.pod.liveness_probe = http_probe("/healthz", 50, 2);
  spec.pod.termination_grace_period = Duration(500);
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  const int first_pid = f.only()->pid;
  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only();
        return i && i->restarts >= 1 && i->pid > 0;
      },
      8s));
  auto inst = *f.only();
  CHECK(inst.pid != first_pid);
  CHECK(inst.last_exit.has_value());
  CHECK(inst.last_error.rfind("liveness probe failed", 0) == 0);
}

TEST_CASE("a hung instance fails its liveness probe by timeout and is restarted") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({"--hang-after-ms", "200"});
  manifests::Probe probe = http_probe("/healthz", 50, 2);
  probe.timeout = Duration(100);
  spec.pod.liveness_probe = probe;
  spec.pod.termination_grace_period = Duration(300);
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only();
        return i && i->restarts >= 1;
      },
      8s));
}

TEST_CASE("startup probe gates readiness and failing it restarts") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({"--ready-after-ms", "300"});
  spec.pod.startup_probe = http_probe("/ready", 50, 40);
  manifests::Probe tcp;
  tcp.tcp_socket = manifests::TcpSocketAction{"http"};
  tcp.period = Duration(50);
  spec.pod.readiness_probe = tcp;
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  CHECK_FALSE(f.only()->started);
  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only();
        return i && i->ready;
      },
      5s));
  CHECK(f.only()->started);

  RevisionSpec failing = f.spec({"--fail-healthz"}, "never");
  failing.pod.startup_probe = http_probe("/healthz", 50, 3);
  failing.pod.termination_grace_period = Duration(300);
  f.rt->scale(failing, 1);
  REQUIRE(f.wait_for(
      [&] {
        auto i = f.only("never");
        return i && i->restarts >= 1;
      },
      8s));
  CHECK(f.only("never")->last_error.rfind("startup probe failed", 0) == 0);
}

TEST_CASE("exec readiness probe runs in the working dir and sees the instance env") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({});
  manifests::Probe probe;
  // `test -f` succeeds only once the marker exists in the checkout (the working dir).
  probe.exec = manifests::ExecAction{{"test", "-f", "ready.marker"}};
  probe.period = Duration(50);
  spec.pod.readiness_probe = probe;
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  f.run_for(300ms);
  CHECK_FALSE(f.only()->ready);
  std::ofstream(f.checkout_dir + "/ready.marker") << "x";
  REQUIRE(f.wait_for([&] { return f.only()->ready; }, 3s));
  std::filesystem::remove(f.checkout_dir + "/ready.marker");
  REQUIRE(f.wait_for([&] { return !f.only()->ready; }, 3s));
  CHECK(f.only()->restarts == 0);
}

TEST_CASE("lifecycle hooks: httpPost and exec - with evidence") {
  RuntimeFixture f;
  const std::string record = f.dir.path() + "/record.txt";
  const std::string marker = f.dir.path() + "/deactivated";
  RevisionSpec spec = f.spec({"--record", record});
  spec.pod.readiness_probe = http_probe("/healthz");
  spec.pod.lifecycle.activate = http_hook("/admin/activate");
  spec.pod.lifecycle.deactivate = exec_hook({"touch", marker});
  spec.pod.lifecycle.pre_stop = exec_hook({"false"});
  f.rt->scale(spec, 2);
  REQUIRE(f.wait_for([&] {
    auto all = f.observe();
    return all.size() == 2 && all[0].ready && all[1].ready;
  }));

  auto activated = run_hook(f, HookKind::kActivate);
  REQUIRE(activated);
  REQUIRE(activated->size() == 2);
  for (const auto& r : *activated) {
    CHECK(r.ok);
    CHECK(r.kind == HookKind::kActivate);
    CHECK(r.message.rfind("HTTP 200", 0) == 0);
  }
  CHECK(slurp(record) == "activate\nactivate\n");

  auto deactivated = run_hook(f, HookKind::kDeactivate);
  REQUIRE(deactivated);
  REQUIRE(deactivated->size() == 2);
  CHECK((*deactivated)[0].ok);
  CHECK(std::filesystem::exists(marker));

  auto failed = run_hook(f, HookKind::kPreStop);
  REQUIRE(failed);
  REQUIRE(failed->size() == 2);
  CHECK_FALSE((*failed)[0].ok);
  CHECK((*failed)[0].message.rfind("exit code 1", 0) == 0);

  // No instance of that revision: an empty answer, not a hang.
  std::optional<std::vector<HookResult>> none;
  f.rt->run_hook("svc", 99, HookKind::kActivate, [&](std::vector<HookResult> r) { none = r; });
  REQUIRE(f.wait_for([&] { return none.has_value(); }, 2s));
  CHECK(none->empty());
}

TEST_CASE("an exec hook that outlives its timeout is killed and reported") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({});
  spec.pod.lifecycle.activate = exec_hook({"sleep", "10"}, 200);
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  const auto start = std::chrono::steady_clock::now();
  auto results = run_hook(f, HookKind::kActivate);
  REQUIRE(results);
  REQUIRE(results->size() == 1);
  CHECK_FALSE((*results)[0].ok);
  CHECK((*results)[0].message.find("timed out") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}

TEST_CASE("preStop runs before SIGTERM when an instance is stopped") {
  RuntimeFixture f;
  const std::string marker = f.dir.path() + "/prestop";
  RevisionSpec spec = f.spec({});
  spec.pod.lifecycle.pre_stop = exec_hook({"touch", marker});
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  f.rt->scale(spec, 0);
  REQUIRE(f.wait_for([&] { return f.observe().empty(); }, 5s));
  CHECK(std::filesystem::exists(marker));
}
