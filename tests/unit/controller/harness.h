// Controller test harness: the real Controller on a SimulatedClock with the fakes.
//
// The fakes share one CrashPoints: arm it and the controller process "dies" inside an action
// (a runtime scale, a route apply, a hook, an analysis start) or right after a journal flush;
// crash_and_recover() then rebuilds it from the durable records, from the last snapshot plus the
// records after it when asked (as `sluice serve` recovers, cli/serve_wiring.cc).
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>

#include "controller/control_facade.h"
#include "controller/controller.h"
#include "tests/support/fakes/crash_points.h"
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

// The journal as a crashing controller sees it: records go to `disk` (a MemoryEventSink, what
// survives); an append is a crash point (the record, not yet flushed, is lost), and so is a
// flush (between the flush and the action it guards); once the controller is down nothing more
// reaches the disk. Unlike a bare MemoryEventSink its records
// are cut by crashes, so it keeps the durable event-id ceiling as the Journal does.
class CrashableSink final : public EventSink {
 public:
  CrashableSink(MemoryEventSink& disk, fakes::CrashPoints& crash) : disk_(disk), crash_(crash) {}
  void append(nlohmann::json record) override {
    if (crash_.down()) return;
    disk_.append(std::move(record));
    ++unflushed_;
    (void)crash_.reached("append:after");
  }
  Status flush_before_action() override {
    if (crash_.down()) return Status::ok();
    Status st = disk_.flush_before_action();
    unflushed_ = 0;
    (void)crash_.reached("flush:after");
    return st;
  }
  uint64_t event_id_ceiling() const override { return ceiling_; }
  Status reserve_event_ids(uint64_t ceiling) override {
    if (!crash_.down()) ceiling_ = std::max(ceiling_, ceiling);
    return Status::ok();
  }
  // Records appended since the last flush (lost by a crash now).
  size_t unflushed() const { return unflushed_; }
  void forget_unflushed() { unflushed_ = 0; }

 private:
  MemoryEventSink& disk_;
  fakes::CrashPoints& crash_;
  size_t unflushed_ = 0;
  uint64_t ceiling_ = 0;
};

struct Harness {
  SimulatedClock clock;
  SimulatedScheduler scheduler{clock};
  fakes::CrashPoints crash;
  fakes::FakeRuntime runtime{clock};
  fakes::FakeRouter router;
  fakes::FakeAnalysisRunner analysis{clock};
  MemoryEventSink sink;  // the "disk"
  CrashableSink journal{sink, crash};
  std::unique_ptr<Controller> controller;
  const GitWriteBackDeps* git_write_back = nullptr;  // set before make() (crash_and_recover)
  int commits = 0;
  // When set, every controller (re)built gets a new analysis runner from here, as a restarted
  // process does (its runs die with it); otherwise all share `analysis`.
  std::function<std::unique_ptr<analysis::AnalysisRunner>()> analysis_factory;
  std::unique_ptr<analysis::AnalysisRunner> owned_analysis;
  // The last snapshot and how many records it covers (take_snapshot()).
  std::optional<nlohmann::json> last_snapshot;
  size_t snapshot_records = 0;

  Harness() {
    runtime.crash = &crash;
    router.crash = &crash;
    analysis.crash = &crash;
    router.runtime = &runtime;  // route tables are checked against the instances as they are
    make();
    runtime.set_listener([this](const std::string& r) { controller->enqueue(r); });
    analysis.set_listener(
        [this](const std::string& r, const std::string&) { controller->enqueue(r); });
  }

  // Every event of every controller built here, as `sluice serve` would stream them.
  std::function<void(const nlohmann::json& event)> on_event;

  analysis::AnalysisRunner& runner() {
    return owned_analysis ? *owned_analysis : static_cast<analysis::AnalysisRunner&>(analysis);
  }

  // Installs an analysis runner factory; call before anything is applied.
  void use_analysis_factory(std::function<std::unique_ptr<analysis::AnalysisRunner>()> factory) {
    controller.reset();
    analysis_factory = std::move(factory);
    make();
  }

  void make() {
    if (analysis_factory) {
      owned_analysis = analysis_factory();
      owned_analysis->set_listener(
          [this](const std::string& r, const std::string&) { controller->enqueue(r); });
    }
    ControllerDeps deps{clock, scheduler, runtime, router, runner(), journal};
    deps.git_write_back = git_write_back;
    controller = std::make_unique<Controller>(deps);
    controller->set_on_event([this](const nlohmann::json& e) {
      if (on_event && !crash.down()) on_event(e);
    });
  }

  // What `sluice serve`'s snapshot timer does: sync the journal, then snapshot the state.
  void take_snapshot() {
    (void)journal.flush_before_action();
    last_snapshot = controller->snapshot();
    snapshot_records = sink.records().size();
  }

  // Simulates a controller crash: everything in memory is lost (analysis runs too, when they
  // come from analysis_factory), only durable records survive. With `from_snapshot` and a
  // snapshot taken, replays the snapshot plus the records after it.
  Status crash_and_recover(bool from_snapshot = false) {
    controller.reset();
    owned_analysis.reset();
    sink.truncate_to_durable();
    journal.forget_unflushed();
    crash.revive();
    make();
    if (from_snapshot && last_snapshot) {
      const auto& all = sink.records();
      const std::vector<nlohmann::json> tail(
          all.begin() + static_cast<std::ptrdiff_t>(snapshot_records), all.end());
      return controller->recover(&*last_snapshot, tail);
    }
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
