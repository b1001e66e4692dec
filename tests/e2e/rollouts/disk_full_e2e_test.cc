// End to end, with the real binaries (issue 19, "durability fails closed"): the journal of a real
// `sluice serve` lives on a small tmpfs, mounted in a private mount namespace of this test process
// (serve inherits it), that fills up in the middle of a canary. While it is full the controller
// must hold: no step moves traffic, verbs answer 503 with the reason, /readyz is 503 and says
// why. Once space is freed it recovers without a restart, the rollout goes on, and a verb
// acknowledged afterwards survives a kill -9.
//
// Needs root (unshare(CLONE_NEWNS) and mount); without it the test fails, saying so.
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string shop_manifest(const E2eEnv& env, const std::string& version, int front_port) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: shop}}
spec:
  replicas: 2
  template:
    version: "{0}"
    command: ["bin/orders-api", "--port", "$(PORT)", "--version", "{0}"]
    env:
      - {{name: SLUICE_E2E_MARKER, value: "{1}"}}
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 5
  service: {{listen: "127.0.0.1:{2}", targetPort: http}}
  strategy:
    canary:
      maxSurge: 1
      maxUnavailable: 0
      trafficRouting: {{builtin: {{}}}}
      steps: [{{setWeight: 25}}, {{pause: {{duration: 3s}}}}, {{setWeight: 50}}, {{pause: {{}}}}]
      scaleDownDelaySeconds: 1
      abortScaleDownDelaySeconds: 1
)YAML",
                     version, env.marker_value(), front_port);
}

// Fills the file system holding `path` by writing zeros to it until ENOSPC; returns the bytes
// written.
uint64_t fill(const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const std::string chunk(64 << 10, '\0');
  uint64_t written = 0;
  for (int i = 0; i < 4096 && out.write(chunk.data(), chunk.size()); ++i) {
    out.flush();
    if (!out) break;
    written += chunk.size();
  }
  // The tail of what did not fit: single bytes, so the file system is full to the byte.
  out.clear();
  for (int i = 0; i < (64 << 10); ++i) {
    if (!out.put('\0') || !out.flush()) break;
  }
  return written;
}

json body_of(const sluice::Result<HttpResult>& r) {
  if (!r.is_ok()) return nullptr;
  return json::parse(r->body, nullptr, false);
}

// Unmounts the tmpfs (lazily: serve may still have files open) at scope exit.
struct Unmount {
  std::string path;
  ~Unmount() {
    if (!path.empty()) ::umount2(path.c_str(), MNT_DETACH);
  }
};

}  // namespace

TEST_CASE("a full journal disk holds the controller, it recovers when space returns",
          "[e2e][durability]") {
  // make test runs as root (README); elsewhere this fails rather than pass having run nothing.
  if (::geteuid() != 0) FAIL("needs root for a private mount namespace with a tmpfs");
  // This process's own mount namespace: the tmpfs is invisible to the rest of the machine, and
  // every child (serve) inherits it.
  REQUIRE(::unshare(CLONE_NEWNS) == 0);
  REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);

  E2eEnv env;
  const std::string journal_dir = env.state_dir() + "/journal";
  std::filesystem::create_directories(journal_dir);
  const int mounted = ::mount("tmpfs", journal_dir.c_str(), "tmpfs", 0, "size=4m");
  INFO("mount tmpfs on " << journal_dir << ": " << std::strerror(errno));
  REQUIRE(mounted == 0);
  Unmount unmount{journal_dir};

  const int front_port = free_loopback_port();
  env.write("shop.yaml", shop_manifest(env, "1.0.0", front_port));
  env.commit("shop 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  INFO(why);
  bool held = false;
  env.wait_rollout("shop", [](const json& r) { return r.value("phase", "") == "Healthy"; }, 60s,
                   &held);
  REQUIRE(held);

  // The canary starts at 25%; during its 3 s pause the journal's disk fills.
  env.write("shop.yaml", shop_manifest(env, "2.0.0", front_port));
  env.commit("shop 2.0.0");
  json r = env.wait_rollout(
      "shop", [](const json& x) { return x["weights"].value("canary", 0) == 25; }, 60s, &held);
  REQUIRE(held);
  const std::string filler = journal_dir + "/filler";
  REQUIRE(fill(filler) > 0);

  // The pause ends; the step to 50% cannot be recorded, so it is not taken.
  r = env.wait_rollout(
      "shop",
      [](const json& x) {
        return x["durability"].is_object() || x["weights"].value("canary", 0) != 25;
      },
      30s, &held);
  INFO(r.dump());
  REQUIRE(held);
  CHECK(r["weights"].value("canary", -1) == 25);
  REQUIRE(r["durability"].is_object());
  CHECK(r["durability"].value("error", "").find("No space left on device") != std::string::npos);
  CHECK(r.value("message", "").find("not durable") != std::string::npos);
  auto ready = http(env.api_port(), "GET", "/readyz");
  REQUIRE(ready.is_ok());
  CHECK(ready->status == 503);
  CHECK(body_of(ready).value("reason", "").find("No space left on device") != std::string::npos);
  for (int i = 0; i < 15; ++i) {
    auto verb = http(env.api_port(), "POST", "/api/v1/rollouts/shop/promote");
    REQUIRE(verb.is_ok());
    CHECK(verb->status == 503);
    const json body = body_of(verb);
    CHECK(body.value("code", "") == "unavailable");
    CHECK(body.value("error", "").find("No space left on device") != std::string::npos);
  }
  // Held for longer than the pause had left: the weights did not move.
  std::this_thread::sleep_for(3s);  // a span of time in which nothing may happen
  r = env.rollout("shop");
  CHECK(r["weights"].value("canary", -1) == 25);
  CHECK(r["canary"].value("replicas", -1) == 1);

  // Space returns: /readyz recovers and the step to 50% is taken, without a restart.
  std::filesystem::remove(filler);
  REQUIRE(poll_until(
      [&] {
        auto x = http(env.api_port(), "GET", "/readyz");
        return x.is_ok() && x->status == 200;
      },
      30s));
  r = env.wait_rollout("shop", [](const json& x) { return x["weights"].value("canary", 0) == 50; },
                       60s, &held);
  INFO(r.dump());
  REQUIRE(held);
  CHECK(r["durability"].is_null());
  CHECK(env.serve_running());

  // An acknowledged verb survives a kill -9.
  auto promoted = http(env.api_port(), "POST", "/api/v1/rollouts/shop/promote");
  REQUIRE(promoted.is_ok());
  REQUIRE(promoted->status == 200);
  env.kill_serve(SIGKILL);
  REQUIRE(env.start_serve(why));
  r = env.wait_rollout(
      "shop",
      [](const json& x) {
        return x.value("phase", "") == "Healthy" && x["stable"].value("version", "") == "2.0.0";
      },
      60s, &held);
  INFO(r.dump());
  CHECK(held);
}
