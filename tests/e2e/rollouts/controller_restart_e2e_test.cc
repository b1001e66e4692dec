// End to end (issue 19, "the data plane outlives the controller"): under steady client load
// through a front door, `sluice serve` is killed with SIGKILL and restarted, stopped with
// SIGTERM and restarted, kept from starting by a corrupt journal, and replaced by an upgraded
// binary. The built-in router runs as its own process, so not one request may fail: no 5xx,
// no connection error, no timeout - and requests must keep flowing while the controller is
// down. Then a commit still rolls out through the same router.
#include <signal.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"
#include "tests/support/paths/paths.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const char* kRolling = "    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}";

uint64_t requests_of(const json& stats) { return stats.value("requests", uint64_t{0}); }

}  // namespace

TEST_CASE("serve killed, stopped, kept down and upgraded under load: zero failed requests",
          "[e2e][restart]") {
  E2eEnv env;
  const int front = free_loopback_port();
  env.write("shop.yaml", orders_api_manifest(env, "shop", "1.0.0", front, kRolling));
  const std::string sha1 = env.commit("shop 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  INFO(why);
  auto first = env.cli({"status", "shop", "--wait", "--revision", sha1, "--timeout", "60s"});
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);
  const pid_t router = env.router_pid();
  REQUIRE(router > 0);
  const auto instances = env.instance_pids();
  REQUIRE(instances.size() == 2);

  LoadGenerator load(env.dir(), front, 200, 4);
  REQUIRE(poll_until([&] { return requests_of(load.stats()) > 200; }, 20s));

  // While the controller is down, requests keep being answered: at 200/s, half a second of
  // load is 100 requests; 40 is the floor that a stalled data plane cannot reach.
  auto flows_while_down = [&](const char* what) {
    INFO(what);
    const uint64_t before = requests_of(load.stats());
    std::this_thread::sleep_for(500ms);
    CHECK(requests_of(load.stats()) >= before + 40);
    CHECK(load.stats().value("failed", uint64_t{1}) == 0);
  };
  auto restart = [&](const std::string& binary, const char* what) {
    INFO(what);
    std::string reason;
    REQUIRE(env.start_serve(reason, binary));
    INFO(reason);
    auto healthy = env.cli({"status", "shop", "--wait", "--revision", sha1, "--timeout", "60s"});
    INFO(healthy.out << healthy.err);
    CHECK(healthy.exit_code == 0);
    CHECK(env.router_pid() == router);        // adopted, not replaced
    CHECK(env.instance_pids() == instances);  // the instances too
    flows_while_down(what);                   // (and once it is back)
  };

  // 1. SIGKILL, then a restart.
  env.kill_serve(SIGKILL);
  flows_while_down("after SIGKILL");
  restart("", "restarted after SIGKILL");

  // 2. SIGTERM (a clean stop), then a restart.
  env.kill_serve(SIGTERM);
  flows_while_down("after SIGTERM");
  restart("", "restarted after SIGTERM");

  // 3. A corrupt journal keeps serve from starting; the front door stays up meanwhile.
  env.kill_serve(SIGTERM);
  const std::string journal_dir = env.state_dir() + "/journal";
  std::string segment;
  for (const auto& entry : std::filesystem::directory_iterator(journal_dir)) {
    const std::string name = entry.path().filename();
    if (name.rfind("journal-", 0) == 0 && name.size() > 4 &&
        name.substr(name.size() - 4) == ".log" && name > segment) {
      segment = name;
    }
  }
  REQUIRE(!segment.empty());
  const std::string segment_path = journal_dir + "/" + segment;
  const auto size = std::filesystem::file_size(segment_path);
  REQUIRE(size > 64);
  std::string original;
  {
    std::ifstream in(segment_path, std::ios::binary);
    original.assign(std::istreambuf_iterator<char>(in), {});
  }
  {
    std::fstream f(segment_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 3));
    f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);  // a record in the middle, not the tail
  }
  std::string refused;
  CHECK_FALSE(env.start_serve(refused));
  INFO(refused);
  CHECK(refused.find("journal") != std::string::npos);
  flows_while_down("while a corrupt journal keeps serve down");
  {
    std::ofstream out(segment_path, std::ios::binary | std::ios::trunc);
    out << original;  // what `sluice journal repair` would settle; put back as it was
  }

  // 4. An upgrade: serve comes back from another binary (a new build of sluice).
  const std::string upgraded = env.dir() + "/sluice-upgraded";
  std::filesystem::copy_file(sluice::test::bin_dir() + "/sluice", upgraded);
  std::filesystem::permissions(upgraded, std::filesystem::perms::owner_exec,
                               std::filesystem::perm_options::add);
  restart(upgraded, "upgraded binary");

  // The adopted router still takes the controller's orders: a commit rolls out through it.
  env.write("shop.yaml", orders_api_manifest(env, "shop", "2.0.0", front, kRolling));
  const std::string sha2 = env.commit("shop 2.0.0");
  auto rolled = env.cli({"status", "shop", "--wait", "--revision", sha2, "--timeout", "90s"});
  INFO(rolled.out << rolled.err);
  CHECK(rolled.exit_code == 0);
  CHECK(poll_until([&] { return load.stats()["versions"].contains("2.0.0"); }, 10s));
  CHECK(env.router_pid() == router);

  const json stats = load.stop();
  INFO(stats.dump(2));
  CHECK(stats.value("failed", uint64_t{1}) == 0);
  CHECK(stats.value("transportErrors", uint64_t{1}) == 0);
  CHECK(requests_of(stats) > 1000);
  WARN(fmt::format("controller restarts under load: {} requests, {} failed, router pid {} "
                   "throughout (SIGKILL, SIGTERM, corrupt journal, upgrade)",
                   requests_of(stats), stats.value("failed", uint64_t{0}), router));
}
