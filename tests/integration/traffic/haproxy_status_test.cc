// The controller with the real HAProxy router and a real HAProxy 2.6: when the runtime socket
// disappears, the step is held, the rollout object says why (`router.error`, `message`) and one
// Warning event is recorded; when HAProxy answers again the table is applied and the error
// clears. The runtime is the fake one (its instances are addresses HAProxy never connects to:
// no request is sent in this test), on a simulated clock.
#include <catch2/catch.hpp>

#include "controller/control_facade.h"
#include "controller/controller.h"
#include "tests/integration/traffic/haproxy_process.h"
#include "tests/support/fakes/fake_analysis.h"
#include "tests/support/fakes/fake_runtime.h"
#include "traffic/haproxy_router.h"

namespace sluice::traffic {
namespace {

using nlohmann::json;
using sluice::testing::HaproxyProcess;

manifests::Rollout haproxy_rollout(const std::string& name, const std::string& version,
                                   const std::string& socket) {
  manifests::Rollout r;
  r.metadata.name = name;
  r.spec.replicas = 2;
  r.spec.template_.version = version;
  r.spec.template_.command = {"./bin/app", version};
  r.spec.template_.ports = {{"http", 0}};
  manifests::CanaryStrategy c;
  c.traffic_routing = manifests::TrafficRouting{false, manifests::HaproxyRouting{socket, "orders"}};
  c.steps = {manifests::SetWeightStep{50}, manifests::PauseStep{}};
  c.scale_down_delay = Duration(5000);
  r.spec.strategy = c;
  return r;
}

struct World {
  SimulatedClock clock;
  controller::SimulatedScheduler scheduler{clock};
  fakes::FakeRuntime runtime{clock};
  HaproxyRouter router{clock};
  fakes::FakeAnalysisRunner analysis{clock};
  controller::MemoryEventSink sink;
  controller::Controller controller{
      controller::ControllerDeps{clock, scheduler, runtime, router, analysis, sink}};
  int commits = 0;

  World() {
    runtime.set_listener([this](const std::string& r) { controller.enqueue(r); });
    controller.queue().set_backoff(Duration(100), Duration(500));
  }
  void apply(std::vector<manifests::Rollout> rollouts) {
    controller::DesiredState d;
    d.commit = "c0ffee" + std::to_string(++commits);
    d.time = clock.now();
    for (auto& r : rollouts) d.manifests.rollouts.push_back({std::move(r), {}});
    controller.apply_desired(d);
  }
  json rollout(const std::string& name) { return *controller.rollout_json(name); }
  int events(const std::string& rollout, const std::string& reason, const std::string& type) {
    int n = 0;
    for (const auto& e : controller.events()) {
      if (e["rollout"] == rollout && e["reason"] == reason && e["type"] == type) ++n;
    }
    return n;
  }
};

// Weights HAProxy holds for the Sluice servers of `backend`, per revision (sum over servers).
std::map<int64_t, int> haproxy_weights(const HaproxyProcess& h) {
  std::map<int64_t, int> out;
  auto answer = haproxy_command(h.socket(), "show servers state orders", Duration(1000));
  REQUIRE(answer);
  auto servers = parse_servers_state(*answer);
  REQUIRE(servers);
  for (const auto& s : *servers) {
    if (auto rev = haproxy_server_revision(s.name)) out[*rev] += s.in_maintenance() ? 0 : s.weight;
  }
  return out;
}

TEST_CASE("an HAProxy socket that disappears holds the step and is reported until it is back",
          "[traffic][haproxy][controller]") {
  HaproxyProcess haproxy;
  REQUIRE(haproxy.ready());
  World w;
  w.apply({haproxy_rollout("orders", "1.0.0", haproxy.socket())});
  w.clock.advance(Duration(5000));
  json r = w.rollout("orders");
  CHECK(r["router"]["kind"] == "haproxy");
  CHECK(r["router"]["error"].is_null());
  CHECK(haproxy_weights(haproxy)[1] > 0);

  haproxy.stop_process();
  w.apply({haproxy_rollout("orders", "1.1.0", haproxy.socket())});
  w.clock.advance(Duration(5000));
  r = w.rollout("orders");
  CHECK(r["currentStepIndex"] == 0);
  CHECK(r["weights"]["canary"] == 0);
  REQUIRE(r["router"]["error"].is_string());
  const std::string error = r["router"]["error"];
  CHECK(error.find(haproxy.socket()) != std::string::npos);
  CHECK(r["router"]["since"].is_string());
  CHECK(r["router"]["failures"].get<int>() > 1);
  CHECK(r["message"].get<std::string>().find(haproxy.socket()) != std::string::npos);
  CHECK(w.events("orders", "RouterError", "Warning") == 1);
  {
    controller::ControllerFacade facade(w.controller, w.scheduler);
    auto served = facade.get_rollout("orders");
    REQUIRE(served);
    CHECK((*served)["router"]["error"] == error);
  }

  REQUIRE(haproxy.restart());
  w.clock.advance(Duration(5000));
  r = w.rollout("orders");
  CHECK(r["router"]["error"].is_null());
  CHECK(r["message"].get<std::string>().find(haproxy.socket()) == std::string::npos);
  CHECK(r["currentStepIndex"] == 1);
  CHECK(r["weights"]["canary"] == 50);
  auto weights = haproxy_weights(haproxy);
  CHECK(weights[1] > 0);
  CHECK(weights[1] == weights[2]);  // 50/50 over two servers each
  CHECK(w.events("orders", "RouterError", "Warning") == 1);
  CHECK(w.events("orders", "RouterRecovered", "Normal") == 1);
}

TEST_CASE("an HAProxy socket path that does not exist is reported in the rollout object",
          "[traffic][haproxy][controller]") {
  World w;
  const std::string missing = "/tmp/sluice-no-such-dir/admin.sock";
  w.apply({haproxy_rollout("orders", "1.0.0", missing)});
  w.clock.advance(Duration(5000));
  json r = w.rollout("orders");
  REQUIRE(r["router"]["error"].is_string());
  CHECK(r["router"]["error"].get<std::string>().find(missing) != std::string::npos);
  CHECK(r["router"]["failures"].get<int>() > 1);
  CHECK(w.events("orders", "RouterError", "Warning") == 1);
}

}  // namespace
}  // namespace sluice::traffic
