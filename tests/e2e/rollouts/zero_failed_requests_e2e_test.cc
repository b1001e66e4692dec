// End to end: under continuous client load (at least 100,000 requests in all), one commit rolls
// three HTTP services out at once — a rolling update, a canary promotion and a blue-green switch,
// each behind its own built-in-router front door. No request may fail: no 5xx, no connection
// error, no timeout.
#include <catch2/catch.hpp>

#include <string>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {


const char* kRolling = "    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}";
const char* kCanary =
    "    canary:\n"
    "      trafficRouting: {builtin: {}}\n"
    "      steps: [{setWeight: 20}, {pause: {duration: 2s}}, {setWeight: 60}, "
    "{pause: {duration: 2s}}]\n"
    "      scaleDownDelaySeconds: 2";
const char* kBlueGreen =
    "    blueGreen: {autoPromotionEnabled: true, autoPromotionSeconds: 2, "
    "scaleDownDelaySeconds: 2}";

struct WebService {
  std::string name;
  const char* strategy;
  int port = 0;
};

}  // namespace

TEST_CASE("rolling, canary and blue-green under load: zero failed requests", "[e2e][load]") {
  E2eEnv env;
  std::vector<WebService> services = {{"rolling-web", kRolling, free_loopback_port()},
                                   {"canary-web", kCanary, free_loopback_port()},
                                   {"bluegreen-web", kBlueGreen, free_loopback_port()}};
  for (const auto& s : services) {
    env.write(s.name + ".yaml", orders_api_manifest(env, s.name, "1.0.0", s.port, s.strategy));
  }
  const std::string sha1 = env.commit("three services at 1.0.0");
  std::string why;
  REQUIRE(env.start_serve(why));
  for (const auto& s : services) {
    auto st = env.cli({"status", s.name, "--wait", "--revision", sha1, "--timeout", "60s"});
    INFO(s.name << ": " << st.out << st.err);
    REQUIRE(st.exit_code == 0);
  }

  std::vector<std::unique_ptr<LoadGenerator>> loads;
  for (const auto& s : services) {
    loads.push_back(std::make_unique<LoadGenerator>(env.dir() + "/" + s.name, s.port, 400, 4));
  }
  auto total_requests = [&] {
    uint64_t n = 0;
    for (const auto& l : loads) n += l->stats().value("requests", uint64_t{0});
    return n;
  };
  REQUIRE(poll_until([&] { return total_requests() > 1000; }, 20s));

  for (const auto& s : services) {
    env.write(s.name + ".yaml", orders_api_manifest(env, s.name, "2.0.0", s.port, s.strategy));
  }
  const std::string sha2 = env.commit("three services at 2.0.0");
  for (const auto& s : services) {
    auto st = env.cli({"status", s.name, "--wait", "--revision", sha2, "--timeout", "120s"});
    INFO(s.name << ": " << st.out << st.err);
    CHECK(st.exit_code == 0);
  }
  // Keep the load on past the scale-down of the old versions, to at least 100,000 requests
  // (bounded: the loads run at 1,200 requests/s in all, so this takes about 90 s).
  CHECK(poll_until([&] { return total_requests() >= 100'000; }, 240s));

  uint64_t total = 0;
  for (size_t i = 0; i < services.size(); ++i) {
    const json stats = loads[i]->stop();
    INFO(services[i].name << ": " << stats.dump(2));
    CHECK(stats.value("failed", uint64_t{1}) == 0);
    CHECK(stats.value("transportErrors", uint64_t{1}) == 0);
    // Both versions answered through the front door, so the switch happened under load.
    CHECK(stats["versions"].contains("1.0.0"));
    CHECK(stats["versions"].contains("2.0.0"));
    total += stats.value("requests", uint64_t{0});
  }
  CHECK(total >= 100'000);
  WARN(fmt::format("zero-failure run: {} requests through a rolling update, a canary and a "
                   "blue-green switch",
                   total));
}
