#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "git_fixture.h"
#include "gitops/watcher.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;
namespace asio = boost::asio;

namespace {

struct Applied {
  std::shared_ptr<const Snapshot> snapshot;
  SetDiff diff;
};

// A real io_context on its own thread stands in for the controller strand.
struct Harness {
  TempDir tmp;
  WorkRepo work{tmp.path / "work"};
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
  std::thread loop;
  SeededRandom random{7};
  std::mutex mu;
  std::vector<Applied> applied;
  std::vector<std::pair<Watcher::Problem, SourceError>> problems;  // what set_on_problem told
  std::unique_ptr<Watcher> watcher;

  void start(RepoConfig config, Duration poll = Duration(3'600'000)) {
    config.state_dir = (tmp.path / "state").string();
    config.fetch_timeout = Duration(10'000);
    WatcherOptions opts;
    opts.poll = poll;
    opts.max_backoff = Duration(2'000);
    watcher = std::make_unique<Watcher>(
        ioc.get_executor(), SystemClock::instance(), random, config, opts,
        [this](const std::shared_ptr<const Snapshot>& s, const SetDiff& d) {
          std::lock_guard lock(mu);
          applied.push_back({s, d});
          return Status::ok();
        });
    watcher->set_on_problem([this](Watcher::Problem problem, const SourceError& e) {
      std::lock_guard lock(mu);
      problems.emplace_back(problem, e);
    });
    loop = std::thread([this] { ioc.run(); });
    watcher->start();
  }
  void start_on_work(const std::string& path = "svc") {
    RepoConfig c;
    c.url = work.dir.string();
    c.path = path;
    start(c);
  }
  ~Harness() {
    if (watcher) watcher->stop();
    guard.reset();
    if (loop.joinable()) loop.join();
    watcher.reset();
  }

  // Blocks until the sync completes (bounded).
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
    if (!cv.wait_for(lock, std::chrono::seconds(15), [&] { return result.has_value(); }))
      return Status(StatusCode::kDeadlineExceeded, "sync did not answer");
    return *result;
  }
  Applied last() {
    std::lock_guard lock(mu);
    REQUIRE(!applied.empty());
    return applied.back();
  }
  size_t count() {
    std::lock_guard lock(mu);
    return applied.size();
  }
  std::vector<std::pair<Watcher::Problem, SourceError>> told() {
    std::lock_guard lock(mu);
    return problems;
  }
};

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(15'000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace

TEST_CASE("watcher applies first snapshot, template change, scale, deletion and prune:false",
          "[gitops][watcher]") {
  Harness h;
  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.0"));
  h.work.write("svc/keeper.yaml", rollout_yaml("keeper", 1, "1.0", "  prune: false\n"));
  std::string a = h.work.commit("first");
  h.start_on_work();

  auto s = h.sync();
  REQUIRE(s.is_ok());
  CHECK(s->commit == a);
  CHECK_FALSE(s->error.has_value());
  CHECK(s->fetched_at.has_value());
  auto first = h.last();
  CHECK(first.snapshot->commit.sha == a);
  CHECK(first.snapshot->commit.author == "Ada Author");
  CHECK(first.diff.find("orders")->kind == ChangeKind::kCreated);
  CHECK(first.diff.find("keeper")->kind == ChangeKind::kCreated);
  CHECK(h.watcher->applied()->commit.sha == a);
  auto json = to_json(h.watcher->status());
  CHECK(json["commit"] == a);
  CHECK(json["error"].is_null());
  CHECK(json["path"] == "svc");

  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.1"));
  std::string b = h.work.commit("orders 1.1");
  REQUIRE(h.sync().is_ok());
  CHECK(h.last().snapshot->commit.sha == b);
  CHECK(h.last().diff.find("orders")->kind == ChangeKind::kTemplateChanged);
  CHECK(h.last().diff.find("keeper")->kind == ChangeKind::kUnchanged);

  h.work.write("svc/orders.yaml", rollout_yaml("orders", 6, "1.1"));
  h.work.commit("scale orders");
  REQUIRE(h.sync().is_ok());
  CHECK(h.last().diff.find("orders")->kind == ChangeKind::kScaled);

  // A sync with no new commit applies nothing new.
  size_t before = h.count();
  REQUIRE(h.sync().is_ok());
  CHECK(h.count() == before);

  h.work.remove("svc/orders.yaml");
  h.work.remove("svc/keeper.yaml");
  h.work.write("svc/other.yaml", rollout_yaml("other", 1, "1"));
  h.work.commit("remove both");
  REQUIRE(h.sync().is_ok());
  CHECK(h.last().diff.find("orders")->kind == ChangeKind::kDeleted);
  CHECK(h.last().diff.find("keeper")->kind == ChangeKind::kOrphaned);
}

TEST_CASE("an invalid commit keeps the last good state and reports file:line",
          "[gitops][watcher]") {
  Harness h;
  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.0"));
  std::string good = h.work.commit("good");
  h.start_on_work();
  REQUIRE(h.sync().is_ok());

  h.work.write("svc/orders.yaml", rollout_yaml("orders", -1, "1.1"));
  std::string bad = h.work.commit("bad replicas");
  auto s = h.sync();
  REQUIRE(s.is_ok());
  CHECK(s->commit == good);
  REQUIRE(s->error.has_value());
  CHECK(s->error->commit == bad);
  CHECK(s->error->file == "svc/orders.yaml");
  CHECK(s->error->line == 6);
  CHECK(h.watcher->applied()->commit.sha == good);
  CHECK(h.count() == 1);
  auto json = to_json(*s);
  CHECK(json["error"]["file"] == "svc/orders.yaml");
  CHECK(json["error"]["line"] == 6);
  CHECK(json["error"]["commit"] == bad);
  // The refused head is told once, with its file and line, however often it is fetched again.
  REQUIRE(h.sync().is_ok());
  auto told = h.told();
  REQUIRE(told.size() == 1);
  CHECK(told[0].first == Watcher::Problem::kInvalidCommit);
  CHECK(told[0].second.commit == bad);
  CHECK(told[0].second.file == "svc/orders.yaml");
  CHECK(told[0].second.line == 6);

  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.1"));
  std::string fixed = h.work.commit("fixed");
  s = h.sync();
  REQUIRE(s.is_ok());
  CHECK(s->commit == fixed);
  CHECK_FALSE(s->error.has_value());
  // The diff is against the last *applied* (good) commit, not the rejected one.
  CHECK(h.last().diff.find("orders")->kind == ChangeKind::kTemplateChanged);
}

TEST_CASE("fetch failures back off and keep the last good state", "[gitops][watcher]") {
  Harness h;
  fs::path bare = h.tmp.path / "remote.git";
  h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "1.0"));
  std::string good = h.work.commit("good");
  REQUIRE(run({"git", "clone", "-q", "--bare", h.work.dir.string(), bare.string()}, h.tmp.path) ==
          0);
  RepoConfig c;
  c.url = bare.string();
  c.path = "svc";
  h.start(c, Duration(40));
  REQUIRE(wait_until([&] { return h.count() == 1; }));

  SECTION("corrupt pack") {
    // Prepare the corrupted remote aside, then swap it in: the watcher polls every 40 ms and
    // must never see the new commit intact.
    h.work.write("svc/orders.yaml", rollout_yaml("orders", 2, "2.0"));
    h.work.commit("next");
    fs::path staged = h.tmp.path / "staged.git";
    REQUIRE(run({"git", "clone", "-q", "--bare", h.work.dir.string(), staged.string()},
                h.tmp.path) == 0);
    REQUIRE(run({"git", "repack", "-a", "-d", "-q"}, staged) == 0);
    for (const auto& e : fs::directory_iterator(staged / "objects" / "pack")) {
      if (e.path().extension() != ".pack") continue;
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      auto size = static_cast<std::streamoff>(fs::file_size(e.path()));
      for (std::streamoff off = 12; off + 20 < size; off += 7) {
        f.seekp(off);
        f.put('\x5a');
      }
    }
    fs::rename(bare, h.tmp.path / "old.git");
    fs::rename(staged, bare);
  }
  SECTION("unreachable remote") { fs::rename(bare, h.tmp.path / "moved.git"); }
  SECTION("unknown branch") { REQUIRE(run({"git", "branch", "-m", "main", "renamed"}, bare) == 0); }

  bool failing = wait_until([&] { return h.watcher->status().consecutive_failures >= 3; });
  INFO(to_json(h.watcher->status()).dump());
  REQUIRE(failing);
  auto s = h.watcher->status();
  REQUIRE(s.error.has_value());
  CHECK_FALSE(s.error->message.empty());
  CHECK(s.commit == good);
  CHECK(h.watcher->applied()->commit.sha == good);
  CHECK(h.count() == 1);
  // Back-off: the next attempt is scheduled further out than the poll interval.
  REQUIRE(s.next_fetch_at.has_value());
  CHECK(*s.next_fetch_at - SystemClock::instance().now() > Duration(40 * 2));
  auto sync = h.sync();
  CHECK_FALSE(sync.is_ok());
  // Every failed attempt is told (for the log), as a fetch failure with its message.
  auto told = h.told();
  REQUIRE(told.size() >= 3);
  for (const auto& [problem, error] : told) {
    CHECK(problem == Watcher::Problem::kFetchFailed);
    CHECK_FALSE(error.message.empty());
  }
}

TEST_CASE("a force-push is followed and marked", "[gitops][watcher]") {
  Harness h;
  h.work.write("svc/a.yaml", rollout_yaml("a", 1, "1"));
  std::string first = h.work.commit("one");
  h.work.write("svc/a.yaml", rollout_yaml("a", 1, "2"));
  h.work.commit("two");
  h.start_on_work();
  REQUIRE(h.sync().is_ok());
  CHECK_FALSE(h.watcher->status().forced);

  REQUIRE(h.work.git({"reset", "-q", "--hard", first}) == 0);
  h.work.write("svc/a.yaml", rollout_yaml("a", 1, "3"));
  std::string rewritten = h.work.commit("rewritten");
  auto s = h.sync();
  REQUIRE(s.is_ok());
  CHECK(s->commit == rewritten);
  CHECK(s->forced);
  CHECK(h.last().snapshot->forced);
  CHECK(h.last().diff.find("a")->new_version == "3");
}

TEST_CASE("refresh floods coalesce and never lose the last commit", "[gitops][watcher]") {
  Harness h;
  h.work.write("svc/a.yaml", rollout_yaml("a", 1, "0"));
  h.work.commit("v0");
  h.start_on_work();  // poll = 1h: only refresh() fetches
  REQUIRE(h.sync().is_ok());
  uint64_t fetches_before = h.watcher->status().fetches;

  std::string last;
  const int kCommits = 5;
  const int kRefreshesPerCommit = 200;
  for (int i = 1; i <= kCommits; ++i) {
    h.work.write("svc/a.yaml", rollout_yaml("a", 1, std::to_string(i)));
    last = h.work.commit("v" + std::to_string(i));
    std::thread flood([&] {
      for (int k = 0; k < kRefreshesPerCommit; ++k) h.watcher->refresh("webhook");
    });
    flood.join();
  }
  // No sync: the queued refresh alone must bring the last commit.
  REQUIRE(wait_until([&] { return h.watcher->status().commit == last; }));
  REQUIRE(wait_until([&] { return h.watcher->status().fetches > fetches_before; }));
  uint64_t fetches = h.watcher->status().fetches - fetches_before;
  // At most: one in flight plus one queued per flood, far below 1000 requests.
  CHECK(fetches <= 2 * kCommits + 1);
  CHECK(h.last().snapshot->commit.sha == last);
}

TEST_CASE("checkout through the watcher's mirror", "[gitops][watcher]") {
  Harness h;
  h.work.write("svc/a.yaml", rollout_yaml("a", 1, "1"));
  std::string sha = h.work.commit("one");
  h.start_on_work();
  REQUIRE(h.sync().is_ok());
  auto dir = h.watcher->checkout(sha);
  REQUIRE(dir.is_ok());
  CHECK(fs::exists(fs::path(*dir) / "svc/a.yaml"));
}
