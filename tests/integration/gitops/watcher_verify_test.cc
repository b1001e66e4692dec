// The watcher with repo.verify on: only a head signed by a trusted key is applied; an unsigned,
// untrusted or tampered head is refused like an invalid commit (the last good snapshot stays
// applied, status().error names commit, signer and reason) and a later trusted head is applied.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "gitops/watcher.h"
#include "signing_fixture.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;
namespace asio = boost::asio;

namespace {

// A real io_context on its own thread stands in for the controller strand.
struct VerifyingWatcher {
  TempDir tmp;
  WorkRepo work{tmp.path / "work"};
  SshKey alice{tmp.path / "keys", "alice"};
  SshKey mallory{tmp.path / "keys", "mallory"};
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
  std::thread loop;
  SeededRandom random{7};
  std::mutex mu;
  std::vector<std::string> applied;  // commit shas, in order
  std::vector<std::pair<Watcher::Problem, SourceError>> problems;
  std::unique_ptr<Watcher> watcher;

  VerifyingWatcher() {
    write_allowed_signers(tmp.path / "allowed_signers", {{"alice@example.com", &alice}});
  }
  void start() {
    RepoConfig config;
    config.url = work.dir.string();
    config.path = "svc";
    config.state_dir = (tmp.path / "state").string();
    config.fetch_timeout = Duration(10'000);
    WatcherOptions opts;
    opts.poll = Duration(3'600'000);
    opts.verify.mode = VerifyMode::kSsh;
    opts.verify.allowed_signers_file = (tmp.path / "allowed_signers").string();
    watcher = std::make_unique<Watcher>(
        ioc.get_executor(), SystemClock::instance(), random, config, opts,
        [this](const std::shared_ptr<const Snapshot>& s, const SetDiff&) {
          std::lock_guard lock(mu);
          applied.push_back(s->commit.sha);
          return Status::ok();
        });
    watcher->set_on_problem([this](Watcher::Problem problem, const SourceError& e) {
      std::lock_guard lock(mu);
      problems.emplace_back(problem, e);
    });
    loop = std::thread([this] { ioc.run(); });
    watcher->start();
  }
  ~VerifyingWatcher() {
    if (watcher) watcher->stop();
    guard.reset();
    if (loop.joinable()) loop.join();
    watcher.reset();
  }
  Result<SourceStatus> sync() {
    std::mutex m;
    std::condition_variable cv;
    std::optional<Result<SourceStatus>> result;
    watcher->sync([&](const Result<SourceStatus>& r) {
      std::lock_guard lock(m);
      result = r;
      cv.notify_all();
    });
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, std::chrono::seconds(20), [&] { return result.has_value(); }))
      return Status(StatusCode::kDeadlineExceeded, "sync did not answer");
    return *result;
  }
  std::vector<std::string> applied_shas() {
    std::lock_guard lock(mu);
    return applied;
  }
  std::vector<std::pair<Watcher::Problem, SourceError>> told() {
    std::lock_guard lock(mu);
    return problems;
  }
};

}  // namespace

TEST_CASE("verify: a trusted head is applied and unsigned or untrusted or tampered ones refused",
          "[gitops][watcher][verify]") {
  VerifyingWatcher h;
  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.0"));
  const std::string good = commit_ssh_signed(h.work, h.alice, "orders 1.0");
  h.start();

  auto s = h.sync();
  REQUIRE(s.is_ok());
  CHECK(s->commit == good);
  CHECK_FALSE(s->error.has_value());
  REQUIRE(s->signature.has_value());
  CHECK(s->signature->signer == "alice@example.com");
  CHECK(h.watcher->applied()->signature->key == h.alice.fingerprint);
  auto json = to_json(*s);
  CHECK(json["verify"]["mode"] == "ssh");
  CHECK(json["signature"]["verified"] == true);
  CHECK(json["signature"]["signer"] == "alice@example.com");
  CHECK(json["signature"]["key"] == h.alice.fingerprint);

  struct Refusal {
    std::string sha;
    std::string_view reason;
    std::string key;  // the key named in the refusal ("" when none)
  };
  std::vector<Refusal> refusals;
  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.1"));
  refusals.push_back({h.work.commit("unsigned 1.1"), kUnsigned, ""});
  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.2"));
  refusals.push_back({commit_ssh_signed(h.work, h.mallory, "mallory's 1.2"), kUntrusted,
                      h.mallory.fingerprint});
  commit_ssh_signed(h.work, h.alice, "alice's 1.3");
  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "evil"));
  refusals.push_back({tamper_head_tree(h.work), kBadSignature, ""});

  for (const auto& refusal : refusals) {
    // Each head is fetched on its own: the branch is moved back to it.
    h.work.git({"update-ref", "refs/heads/main", refusal.sha});
    INFO(refusal.reason);
    s = h.sync();
    REQUIRE(s.is_ok());
    CHECK(s->commit == good);  // the last good commit stays applied
    REQUIRE(s->error.has_value());
    CHECK(s->error->commit == refusal.sha);
    REQUIRE(s->error->signature.has_value());
    CHECK(s->error->signature->reason == refusal.reason);
    CHECK(s->error->signature->signer.empty());
    CHECK(s->error->signature->key == refusal.key);
    json = to_json(*s);
    CHECK(json["commit"] == good);
    CHECK(json["error"]["commit"] == refusal.sha);
    CHECK(json["error"]["signature"]["verified"] == false);
    CHECK(json["error"]["signature"]["signer"].is_null());
    CHECK(json["error"]["signature"]["reason"] == std::string(refusal.reason));
    CHECK(json["signature"]["signer"] == "alice@example.com");  // of the applied commit
  }
  CHECK(h.applied_shas() == std::vector<std::string>{good});
  CHECK(h.watcher->status().unverified_heads == 3);
  CHECK_THAT(metrics_text(h.watcher->status()),
             Catch::Contains("sluice_git_unverified_heads_total 3\n") &&
                 Catch::Contains("sluice_git_source_invalid 1\n"));
  // Each refused head is told once, like an invalid commit, however often it is fetched.
  REQUIRE(h.sync().is_ok());
  auto told = h.told();
  REQUIRE(told.size() == 3);
  for (const auto& [problem, error] : told) {
    CHECK(problem == Watcher::Problem::kInvalidCommit);
    CHECK(error.signature.has_value());
  }

  // A later trusted commit is applied, with its diff against the last applied one.
  h.work.git({"reset", "-q", "--hard", good});
  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "2.0"));
  const std::string fixed = commit_ssh_signed(h.work, h.alice, "orders 2.0");
  s = h.sync();
  REQUIRE(s.is_ok());
  CHECK(s->commit == fixed);
  CHECK_FALSE(s->error.has_value());
  CHECK(h.applied_shas() == std::vector<std::string>{good, fixed});
  CHECK(h.watcher->applied()->manifests.rollouts.at(0).rollout.spec.template_.version == "2.0");
}
