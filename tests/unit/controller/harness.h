// Controller test harness: the real Controller on a SimulatedClock with the fakes.
#pragma once

#include <memory>

#include "controller/control_facade.h"
#include "controller/controller.h"
#include "tests/support/fakes/fake_analysis.h"
#include "tests/support/fakes/fake_router.h"
#include "tests/support/fakes/fake_runtime.h"

namespace sluice::controller::testing {

inline manifests::Rollout make_rollout(const std::string& name, const std::string& version,
                                       int replicas, manifests::Strategy strategy,
                                       bool service = true) {
  manifests::Rollout r;
  r.metadata.name = name;
  r.spec.replicas = replicas;
  r.spec.template_.version = version;
  r.spec.template_.command = {"./bin/app", version};
  r.spec.template_.ports = {{"http", 0}};
  r.spec.strategy = std::move(strategy);
  if (service) r.spec.service = manifests::ServiceSpec{"127.0.0.1:18080", "http"};
  return r;
}

inline manifests::AnalysisTemplate make_template(const std::string& name) {
  manifests::AnalysisTemplate t;
  t.metadata.name = name;
  manifests::Metric m;
  m.name = name;
  t.spec.metrics.push_back(m);
  return t;
}

struct Harness {
  SimulatedClock clock;
  SimulatedScheduler scheduler{clock};
  fakes::FakeRuntime runtime{clock};
  fakes::FakeRouter router;
  fakes::FakeAnalysisRunner analysis{clock};
  MemoryEventSink sink;
  std::unique_ptr<Controller> controller;
  int commits = 0;

  Harness() {
    router.runtime = &runtime;  // route tables are checked against the instances as they are
    make();
    runtime.set_listener([this](const std::string& r) { controller->enqueue(r); });
    analysis.set_listener(
        [this](const std::string& r, const std::string&) { controller->enqueue(r); });
  }

  void make() {
    controller = std::make_unique<Controller>(
        ControllerDeps{clock, scheduler, runtime, router, analysis, sink});
  }

  // Simulates a controller crash: everything in memory is lost, only durable records survive.
  Status crash_and_recover() {
    controller.reset();
    sink.truncate_to_durable();
    make();
    return controller->recover(nullptr, sink.records());
  }

  void apply(std::vector<manifests::Rollout> rollouts,
             std::vector<manifests::AnalysisTemplate> templates = {}) {
    DesiredState d;
    d.commit = "c0ffee" + std::to_string(++commits);
    d.author = "dev";
    d.message = "commit " + std::to_string(commits);
    d.time = clock.now();
    for (auto& r : rollouts) d.manifests.rollouts.push_back({std::move(r), {}});
    for (auto& t : templates) d.manifests.templates.push_back({std::move(t), {}});
    controller->apply_desired(d);
  }

  void run_for(Duration d) { clock.advance(d); }

  nlohmann::json rollout(const std::string& name) { return *controller->rollout_json(name); }

  Result<nlohmann::json> verb(const std::string& name, Verb v, bool full = false,
                              std::optional<int64_t> revision = std::nullopt) {
    VerbRequest req;
    req.rollout = name;
    req.verb = v;
    req.full = full;
    req.revision = revision;
    req.actor = "tester";
    return controller->command(req);
  }
};

}  // namespace sluice::controller::testing
