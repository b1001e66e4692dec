// bench_restart: what clients see while the controller restarts (issue 19). Under 100 requests/s
// through a front door (orders-load, which counts every failed request and carries on), three
// restarts each of:
//   sluice: `sluice serve` SIGKILLed and restarted, SIGTERMed and restarted, and restarted from
//           another copy of the binary (an upgrade); the router process is adopted each time.
//   peer:   the data plane restarted with its process, as when the router lived inside serve:
//           the router process SIGKILLed, SIGTERMed, and started again at once from its kept
//           tables (the fastest an in-process router can come back: no controller start-up).
// Prints requests, failed requests and failed per restart for both, and their ratio. Loopback
// only; bounded (about 40 s).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"
#include "tests/support/paths/paths.h"

namespace {

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

struct Outcome {
  uint64_t requests = 0;
  uint64_t failed = 0;
  int restarts = 0;
  bool ok = false;
  std::string why;
};

// A started environment with one healthy rollout behind `front`, or an error.
bool bring_up(E2eEnv& env, int front, std::string& why) {
  env.write("shop.yaml", orders_api_manifest(env, "shop", "1.0.0", front, "    rollingUpdate: {}"));
  const std::string sha = env.commit("shop 1.0.0");
  if (!env.start_serve(why)) return false;
  auto st = env.cli({"status", "shop", "--wait", "--revision", sha, "--timeout", "60s"});
  if (st.exit_code != 0) {
    why = "not healthy: " + st.out + st.err;
    return false;
  }
  return true;
}

Outcome run_sluice() {
  Outcome o;
  E2eEnv env;
  const int front = free_loopback_port();
  if (!bring_up(env, front, o.why)) return o;
  const std::string upgraded = env.dir() + "/sluice-upgraded";
  std::filesystem::copy_file(sluice::test::bin_dir() + "/sluice", upgraded);
  LoadGenerator load(env.dir(), front, 100, 4);
  std::this_thread::sleep_for(2s);
  const std::pair<int, std::string> steps[] = {{SIGKILL, ""}, {SIGTERM, ""}, {SIGTERM, upgraded}};
  for (const auto& [sig, binary] : steps) {
    env.kill_serve(sig);
    if (!env.start_serve(o.why, binary)) return o;
    ++o.restarts;
    std::this_thread::sleep_for(2s);
  }
  const json stats = load.stop();
  o.requests = stats.value("requests", uint64_t{0});
  o.failed = stats.value("failed", uint64_t{0});
  o.ok = o.requests > 0;
  return o;
}

Outcome run_peer() {
  Outcome o;
  E2eEnv env;
  const int front = free_loopback_port();
  if (!bring_up(env, front, o.why)) return o;
  // serve stays up; the bench restarts the data plane itself, at once.
  const std::string dir = env.state_dir() + "/router";
  LoadGenerator load(env.dir(), front, 100, 4);
  std::this_thread::sleep_for(2s);
  std::vector<std::unique_ptr<ChildProcess>> routers;
  for (int sig : {SIGKILL, SIGTERM, SIGKILL}) {
    const pid_t pid = env.router_pid();
    if (pid <= 0) {
      o.why = "no router pid";
      return o;
    }
    ::kill(pid, sig);
    for (int i = 0; i < 500 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(2ms);
    auto child = ChildProcess::spawn(
        {sluice::test::bin_dir() + "/sluice", "router", "--state-dir", dir}, {},
        env.dir() + "/router-" + std::to_string(o.restarts) + ".log");
    if (!child) {
      o.why = child.status().message();
      return o;
    }
    routers.push_back(std::move(child).value());
    ++o.restarts;
    std::this_thread::sleep_for(2s);
  }
  const json stats = load.stop();
  o.requests = stats.value("requests", uint64_t{0});
  o.failed = stats.value("failed", uint64_t{0});
  o.ok = o.requests > 0;
  return o;
}

}  // namespace

int main() {
  const Outcome sluice = run_sluice();
  const Outcome peer = run_peer();
  auto line = [](const char* name, const Outcome& o) {
    if (!o.ok) {
      std::printf("%-8s did not run: %s\n", name, o.why.c_str());
      return;
    }
    std::printf("%-8s %6llu requests, %5llu failed over %d restarts (%.1f per restart)\n", name,
                static_cast<unsigned long long>(o.requests),
                static_cast<unsigned long long>(o.failed), o.restarts,
                static_cast<double>(o.failed) / std::max(o.restarts, 1));
  };
  std::printf("restarts under 100 requests/s through a front door\n");
  line("sluice", sluice);
  line("peer", peer);
  if (!sluice.ok || !peer.ok) return 1;
  std::printf("failed per restart: sluice %.1f vs peer %.1f (peer/sluice ratio %s)\n",
              static_cast<double>(sluice.failed) / sluice.restarts,
              static_cast<double>(peer.failed) / peer.restarts,
              sluice.failed == 0 ? "infinite: sluice lost none"
                                 : fmt::format("{:.1f}", static_cast<double>(peer.failed) /
                                                             static_cast<double>(sluice.failed))
                                       .c_str());
  const bool met = sluice.failed == 0;
  std::printf("goal (0 failed requests across controller restarts): %s\n", met ? "met" : "NOT met");
  return met ? 0 : 1;
}
