#include <catch2/catch.hpp>

#include "gitops/diff.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace sluice::manifests;

namespace {

LoadedRollout rollout(const std::string& name, int replicas = 2, const std::string& version = "1") {
  LoadedRollout r;
  r.rollout.metadata.name = name;
  r.rollout.spec.replicas = replicas;
  r.rollout.spec.template_.version = version;
  r.rollout.spec.template_.command = {"./bin/app"};
  return r;
}

LoadedAnalysisTemplate templ(const std::string& name, const std::string& condition) {
  LoadedAnalysisTemplate t;
  t.templ.metadata.name = name;
  Metric m;
  m.name = "m";
  m.success_condition = condition;
  t.templ.spec.metrics.push_back(m);
  return t;
}

ManifestSet set_of(std::vector<LoadedRollout> rollouts,
                   std::vector<LoadedAnalysisTemplate> t = {}) {
  ManifestSet s;
  s.rollouts = std::move(rollouts);
  s.templates = std::move(t);
  return s;
}

ChangeKind kind_of(const SetDiff& d, const std::string& name) {
  const RolloutChange* c = d.find(name);
  REQUIRE(c != nullptr);
  return c->kind;
}

}  // namespace

TEST_CASE("diff classifies each rollout change", "[gitops][diff]") {
  auto base = rollout("a");
  struct Case {
    const char* what;
    std::function<void(Rollout&)> edit;
    ChangeKind expected;
    std::vector<std::string> fields;
  };
  std::vector<Case> cases = {
      {"nothing", [](Rollout&) {}, ChangeKind::kUnchanged, {}},
      {"replicas only",
       [](Rollout& r) { r.spec.replicas = 5; },
       ChangeKind::kScaled,
       {"spec.replicas"}},
      {"template version",
       [](Rollout& r) { r.spec.template_.version = "2"; },
       ChangeKind::kTemplateChanged,
       {"spec.template"}},
      {"template env",
       [](Rollout& r) {
         r.spec.template_.env.push_back({"A", "b"});
       },
       ChangeKind::kTemplateChanged,
       {"spec.template"}},
      {"template and replicas",
       [](Rollout& r) {
         r.spec.template_.version = "2";
         r.spec.replicas = 9;
       },
       ChangeKind::kTemplateChanged,
       {"spec.replicas", "spec.template"}},
      {"strategy only",
       [](Rollout& r) { r.spec.strategy = CanaryStrategy{}; },
       ChangeKind::kSpecChanged,
       {"spec.strategy"}},
      {"replicas and strategy",
       [](Rollout& r) {
         r.spec.strategy = BlueGreenStrategy{};
         r.spec.replicas = 1;
       },
       ChangeKind::kSpecChanged,
       {"spec.replicas", "spec.strategy"}},
      {"paused",
       [](Rollout& r) { r.spec.paused = true; },
       ChangeKind::kSpecChanged,
       {"spec.paused"}},
      {"labels",
       [](Rollout& r) { r.metadata.labels["team"] = "x"; },
       ChangeKind::kSpecChanged,
       {"metadata.labels"}},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      auto changed = base;
      c.edit(changed.rollout);
      SetDiff d = diff_sets(set_of({base}), set_of({changed}));
      REQUIRE(d.rollouts.size() == 1);
      CHECK(d.rollouts[0].kind == c.expected);
      CHECK(d.rollouts[0].fields == c.fields);
      CHECK(d.empty() == (c.expected == ChangeKind::kUnchanged));
    }
  }
}

TEST_CASE("diff reports created, deleted and orphaned rollouts", "[gitops][diff]") {
  auto keep = rollout("keep");
  auto gone = rollout("gone", 3);
  auto orphan = rollout("orphan");
  orphan.rollout.spec.prune = false;
  auto fresh = rollout("fresh", 4, "7");

  SetDiff d = diff_sets(set_of({gone, keep, orphan}), set_of({fresh, keep}));
  REQUIRE(d.rollouts.size() == 4);
  CHECK(d.rollouts[0].name == "fresh");  // sorted by name
  CHECK(kind_of(d, "fresh") == ChangeKind::kCreated);
  CHECK(d.find("fresh")->new_replicas == 4);
  CHECK(d.find("fresh")->new_version == "7");
  CHECK(kind_of(d, "gone") == ChangeKind::kDeleted);
  CHECK(d.find("gone")->old_replicas == 3);
  CHECK(d.find("gone")->new_replicas == 0);
  CHECK(kind_of(d, "orphan") == ChangeKind::kOrphaned);
  CHECK(kind_of(d, "keep") == ChangeKind::kUnchanged);
}

TEST_CASE("first snapshot: every rollout is created", "[gitops][diff]") {
  SetDiff d = diff_sets(ManifestSet{}, set_of({rollout("a"), rollout("b")}, {templ("t", "true")}));
  CHECK(kind_of(d, "a") == ChangeKind::kCreated);
  CHECK(kind_of(d, "b") == ChangeKind::kCreated);
  CHECK(d.templates_added == std::vector<std::string>{"t"});
  CHECK_FALSE(d.empty());
}

TEST_CASE("an AnalysisTemplate change marks the rollouts that reference it", "[gitops][diff]") {
  auto canary = rollout("canary-user");
  CanaryStrategy cs;
  RolloutAnalysis step;
  step.templates.push_back({"success-rate"});
  cs.steps.push_back(step);
  canary.rollout.spec.strategy = cs;

  auto bg = rollout("bg-user");
  BlueGreenStrategy bgs;
  bgs.pre_promotion_analysis = RolloutAnalysis{};
  bgs.pre_promotion_analysis->templates.push_back({"latency"});
  bg.rollout.spec.strategy = bgs;

  auto plain = rollout("plain");

  auto before =
      set_of({bg, canary, plain}, {templ("latency", "true"), templ("success-rate", "result > 1")});
  auto after =
      set_of({bg, canary, plain}, {templ("latency", "true"), templ("success-rate", "result > 2")});
  SetDiff d = diff_sets(before, after);
  CHECK(d.templates_changed == std::vector<std::string>{"success-rate"});
  CHECK(kind_of(d, "canary-user") == ChangeKind::kUnchanged);
  CHECK(d.find("canary-user")->changed_templates == std::vector<std::string>{"success-rate"});
  CHECK(d.find("bg-user")->changed_templates.empty());
  CHECK(d.find("plain")->changed_templates.empty());
  CHECK_FALSE(d.empty());

  CHECK(referenced_templates(bg.rollout) == std::vector<std::string>{"latency"});
}

TEST_CASE("diff json names the change", "[gitops][diff]") {
  auto a = rollout("a", 2);
  auto b = rollout("a", 6);
  auto j = to_json(diff_sets(set_of({a}), set_of({b})));
  CHECK(j["rollouts"][0]["change"] == "scaled");
  CHECK(j["rollouts"][0]["replicas"]["to"] == 6);
}
