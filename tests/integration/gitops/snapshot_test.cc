#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "git_fixture.h"
#include "gitops/plan.h"
#include "gitops/repository.h"
#include "gitops/snapshot.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;

namespace {

struct Fixture {
  TempDir tmp;
  WorkRepo work{tmp.path / "work"};
  std::unique_ptr<GitRepository> repo;

  void open() {
    auto r = GitRepository::open_existing(work.dir.string());
    REQUIRE(r.is_ok());
    repo = std::move(*r);
  }
};

}  // namespace

TEST_CASE("snapshot reads manifests below the path with provenance", "[gitops][snapshot]") {
  Fixture f;
  f.work.write("services/orders.yaml", rollout_yaml("orders", 2, "1.0"));
  f.work.write("services/nested/pay.yml", rollout_yaml("pay", 1, "3.1"));
  f.work.write("services/readme.txt", "not a manifest");
  f.work.write("other/ignored.yaml", "this: is not read\n");
  std::string sha = f.work.commit("Add orders and pay\n\nLonger body.");
  f.open();

  SnapshotBuilder builder("services");
  auto snap = builder.build(f.repo->raw(), sha);
  REQUIRE(snap.is_ok());
  INFO((snap->manifests.diagnostics.empty() ? "" : snap->manifests.diagnostics[0].to_string()));
  REQUIRE(snap->ok());
  CHECK(snap->commit.sha == sha);
  CHECK(snap->commit.author == "Ada Author");
  CHECK(snap->commit.author_email == "ada@example.com");
  CHECK(snap->commit.summary() == "Add orders and pay");
  CHECK(snap->commit.message == "Add orders and pay\n\nLonger body.");
  CHECK(to_unix_ms(snap->commit.time) > 0);
  REQUIRE(snap->manifests.rollouts.size() == 2);
  CHECK(snap->manifests.rollouts[0].rollout.metadata.name == "orders");
  CHECK(snap->manifests.rollouts[0].origin.file == "services/orders.yaml");
  CHECK(snap->manifests.rollouts[1].rollout.spec.template_.version == "3.1");
  REQUIRE(snap->files.size() == 2);
  CHECK(snap->files[0].path == "services/nested/pay.yml");
}

TEST_CASE("snapshot diagnostics: bad yaml, escaping symlink, oversized file, missing path",
          "[gitops][snapshot]") {
  Fixture f;
  f.work.write("services/good.yaml", rollout_yaml("good", 1, "1"));
  f.work.write("outside.yaml", rollout_yaml("outside", 1, "1"));
  REQUIRE(::symlink("../outside.yaml", (f.work.dir / "services/escape.yaml").c_str()) == 0);
  REQUIRE(::symlink("good.yaml", (f.work.dir / "services/inside.yaml").c_str()) == 0);
  std::string sha = f.work.commit("symlinks");
  f.open();

  SnapshotBuilder builder("services");
  auto snap = builder.build(f.repo->raw(), sha);
  REQUIRE(snap.is_ok());
  REQUIRE_FALSE(snap->ok());
  bool escape_reported = false;
  for (const auto& d : snap->manifests.diagnostics) {
    if (d.pos.file == "services/escape.yaml") {
      escape_reported = true;
      CHECK(d.pos.line == 1);
    }
  }
  CHECK(escape_reported);

  // The in-tree symlink is followed: "good" appears twice -> duplicate name diagnostic, which
  // proves the link target was read.
  bool duplicate = false;
  for (const auto& d : snap->manifests.diagnostics)
    duplicate |= d.pos.file == "services/inside.yaml" || d.name == "good";
  CHECK(duplicate);

  manifests::LoadLimits tiny;
  tiny.max_file_bytes = 16;
  SnapshotBuilder small("services", tiny);
  f.work.remove("services/escape.yaml");
  f.work.remove("services/inside.yaml");
  std::string sha2 = f.work.commit("no links");
  auto big = small.build(f.repo->raw(), sha2);
  REQUIRE(big.is_ok());
  REQUIRE(big->manifests.diagnostics.size() == 1);
  CHECK(big->manifests.diagnostics[0].pos.file == "services/good.yaml");

  SnapshotBuilder missing("nope");
  auto none = missing.build(f.repo->raw(), sha2);
  REQUIRE(none.is_ok());
  REQUIRE(none->manifests.diagnostics.size() == 1);
  CHECK(none->manifests.diagnostics[0].pos.file == "nope");
}

TEST_CASE("a one-file change re-parses only that file", "[gitops][snapshot]") {
  Fixture f;
  for (int i = 0; i < 20; ++i)
    f.work.write("s/r" + std::to_string(i) + ".yaml",
                 rollout_yaml("r" + std::to_string(i), 1, "1"));
  std::string a = f.work.commit("twenty");
  f.work.write("s/r7.yaml", rollout_yaml("r7", 3, "1"));
  std::string b = f.work.commit("scale r7");
  f.open();

  SnapshotBuilder builder("s");
  auto first = builder.build(f.repo->raw(), a);
  REQUIRE(first.is_ok());
  REQUIRE(first->ok());
  CHECK(builder.last_stats().files_parsed == 20);
  auto second = builder.build(f.repo->raw(), b);
  REQUIRE(second.is_ok());
  REQUIRE(second->ok());
  CHECK(builder.last_stats().files_parsed == 1);
  CHECK(builder.last_stats().files_reused == 19);
  CHECK(second->manifests.find_rollout("r7")->rollout.spec.replicas == 3);
  // The cached result is identical to a cold parse.
  SnapshotBuilder cold("s");
  auto fresh = cold.build(f.repo->raw(), b);
  REQUIRE(fresh.is_ok());
  REQUIRE(fresh->manifests.rollouts.size() == second->manifests.rollouts.size());
  for (size_t i = 0; i < fresh->manifests.rollouts.size(); ++i)
    CHECK(fresh->manifests.rollouts[i].rollout == second->manifests.rollouts[i].rollout);
}

TEST_CASE("plan between commits", "[gitops][plan]") {
  Fixture f;
  f.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.0"));
  f.work.write("svc/pay.yaml", rollout_yaml("pay", 2, "1.0"));
  f.work.write("svc/old.yaml", rollout_yaml("old", 3, "1.0"));
  f.work.write("svc/keep.yaml", rollout_yaml("keep", 1, "1.0", "  prune: false\n"));
  std::string first = f.work.commit("first");
  f.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.1"));
  f.work.write("svc/pay.yaml", rollout_yaml("pay", 5, "1.0"));
  f.work.remove("svc/old.yaml");
  f.work.remove("svc/keep.yaml");
  f.work.write("svc/new.yaml", rollout_yaml("new", 1, "0.1"));
  std::string second = f.work.commit("second");

  PlanRequest req;
  req.repo = f.work.dir.string();
  req.path = "svc";
  auto plan = make_plan(req);  // HEAD~1..HEAD
  REQUIRE(plan.is_ok());
  REQUIRE(plan->ok());
  CHECK(plan->from.sha == first);
  CHECK(plan->to.sha == second);
  std::map<std::string, std::string> actions;
  for (const auto& e : plan->entries) actions[e.name] = e.action;
  CHECK(actions["orders"] == "new revision");
  CHECK(actions["pay"] == "scale");
  CHECK(actions["old"] == "delete");
  CHECK(actions["keep"] == "orphan");
  CHECK(actions["new"] == "new revision");
  auto j = to_json(*plan);
  CHECK(j["ok"] == true);
  CHECK(j["rollouts"].size() == 5);

  // First commit: from the empty tree.
  req.to = first;
  auto initial = make_plan(req);
  REQUIRE(initial.is_ok());
  CHECK(initial->from.sha.empty());
  for (const auto& e : initial->entries) CHECK(e.change.kind == ChangeKind::kCreated);

  // An invalid target: errors with file:line, exit-worthy.
  f.work.write("svc/pay.yaml", rollout_yaml("pay", -4, "1.0"));
  f.work.commit("broken");
  req.to = "HEAD";
  auto broken = make_plan(req);
  REQUIRE(broken.is_ok());
  REQUIRE_FALSE(broken->ok());
  CHECK(broken->diagnostics[0].pos.file == "svc/pay.yaml");
  CHECK(broken->diagnostics[0].pos.line == 6);
  CHECK(format_plan(*broken).find("svc/pay.yaml:6:") != std::string::npos);

  req.to = "no-such-rev";
  CHECK(make_plan(req).status().code() == StatusCode::kNotFound);
}
