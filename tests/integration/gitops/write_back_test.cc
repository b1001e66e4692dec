// Git write-back against real bare repositories: over file:// and over git:// from a real
// `git daemon --enable=receive-pack` on loopback. Histories are made with the git CLI; what
// landed is read back with it (trees, parents, authors), never from Sluice's own view.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "git_fixture.h"
#include "gitops/repository.h"
#include "gitops/snapshot.h"
#include "gitops/write_back.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string other_yaml(int replicas) {
  return rollout_yaml("billing", replicas, "7.0.0");
}

// origin.git (bare) with this history on main, pushed from `work`:
//   stable:  services/orders.yaml 1.0.0, services/billing.yaml, README
//   bad:     orders 2.0.0 (the aborted revision's commit)
//   later:   billing replicas 3, README edited (someone else's work after the bad commit)
struct History {
  TempDir tmp;
  fs::path bare = tmp.path / "origin.git";
  WorkRepo work{tmp.path / "work"};
  std::string stable, bad, later;

  History() {
    REQUIRE(run({"git", "init", "-q", "--bare", "-b", "main", bare.string()}, tmp.path) == 0);
    work.git({"remote", "add", "origin", bare.string()});
    work.write("services/orders.yaml", rollout_yaml("orders", 2, "1.0.0"));
    work.write("services/billing.yaml", other_yaml(2));
    work.write("README", "deploy repo\n");
    stable = work.commit("orders 1.0.0");
    work.write("services/orders.yaml", rollout_yaml("orders", 2, "2.0.0"));
    bad = work.commit("orders 2.0.0");
    work.write("services/billing.yaml", other_yaml(3));
    work.write("README", "deploy repo, edited\n");
    later = work.commit("billing to 3 replicas");
    REQUIRE(work.git({"push", "-q", "origin", "main"}) == 0);
  }

  std::string git_bare(std::vector<std::string> args) const {
    args.insert(args.begin(), {"git", "--git-dir", bare.string()});
    std::string out;
    run(args, tmp.path, &out);
    return trim(out);
  }
  std::string head() const { return git_bare({"rev-parse", "main"}); }

  // The template of orders as Sluice reads it at `sha` (the stable revision's template).
  manifests::PodTemplate orders_template(const std::string& sha) const {
    auto repo = GitRepository::open_existing(work.dir.string());
    REQUIRE(repo.is_ok());
    SnapshotBuilder builder("services");
    auto snap = builder.build((*repo)->raw(), sha);
    REQUIRE(snap.is_ok());
    REQUIRE(snap->ok());
    for (const auto& r : snap->manifests.rollouts) {
      if (r.rollout.metadata.name == "orders") return r.rollout.spec.template_;
    }
    FAIL("orders not in " << sha);
    return {};
  }

  RevertRequest request() const {
    RevertRequest r;
    r.rollout = "orders";
    r.revision = 2;
    r.version = "2.0.0";
    r.commit = bad;
    r.reason = "AnalysisFailed: success-rate 0.82 < 0.99";
    r.stable_revision = 1;
    r.stable_version = "1.0.0";
    r.stable_template = orders_template(stable);
    r.time = from_unix_ms(1'767'225'600'000);
    return r;
  }

  RepoConfig config(const std::string& url) const {
    RepoConfig c;
    c.url = url;
    c.ref = "main";
    c.path = "services";
    c.state_dir = (tmp.path / "state").string();
    c.fetch_timeout = Duration(10'000);
    return c;
  }
};

WriteBackOptions options() {
  WriteBackOptions o;
  o.author_name = "Sluice";
  o.author_email = "sluice@example.com";
  return o;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// `git daemon` serving `base` on loopback, pushes allowed; stopped (SIGTERM, reaped) at scope end.
struct GitDaemon {
  pid_t pid = 0;
  int port = 0;
  explicit GitDaemon(const fs::path& base) {
    port = free_port();
    std::vector<std::string> argv = {"git",
                                     "daemon",
                                     "--export-all",
                                     "--enable=receive-pack",
                                     "--base-path=" + base.string(),
                                     "--listen=127.0.0.1",
                                     "--port=" + std::to_string(port),
                                     "--reuseaddr",
                                     base.string()};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    REQUIRE(posix_spawnp(&pid, "git", nullptr, nullptr, args.data(), environ) == 0);
    // Ready once it accepts a connection (bounded: 5 s).
    for (int i = 0; i < 100; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(port));
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      ::close(fd);
      if (up) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("git daemon did not listen on port " << port);
  }
  ~GitDaemon() {
    ::kill(pid, SIGTERM);
    int st = 0;
    ::waitpid(pid, &st, 0);
  }
  std::string url(const std::string& repo) const {
    return "git://127.0.0.1:" + std::to_string(port) + "/" + repo;
  }
};

// Checks what landed: one new commit on top of `parent`, by Sluice, changing only orders.yaml,
// whose content is the stable commit's again.
void check_revert_landed(const History& h, const RevertResult& result, const std::string& parent) {
  CHECK(result.pushed);
  CHECK(result.reverted_commit == h.bad);
  CHECK(result.file == "services/orders.yaml");
  CHECK(h.head() == result.commit);
  CHECK(h.git_bare({"rev-parse", result.commit + "^"}) == parent);
  CHECK(h.git_bare({"diff", "--name-only", parent, result.commit}) == "services/orders.yaml");
  CHECK(h.git_bare({"show", result.commit + ":services/orders.yaml"}) ==
        h.git_bare({"show", h.stable + ":services/orders.yaml"}));
  CHECK(h.git_bare({"show", "-s", "--format=%an <%ae>|%cn <%ce>", result.commit}) ==
        "Sluice <sluice@example.com>|Sluice <sluice@example.com>");
  const std::string message = h.git_bare({"show", "-s", "--format=%B", result.commit});
  CHECK(message.find("rollout orders") != std::string::npos);
  CHECK(message.find(h.bad) != std::string::npos);
  CHECK(message.find("AnalysisFailed: success-rate 0.82 < 0.99") != std::string::npos);
  CHECK(message.find("Sluice-Revision: 2") != std::string::npos);
}

}  // namespace

TEST_CASE("write-back over file:// reverts only the rollout's file, on top of later work",
          "[gitops][writeback]") {
  History h;
  GitWriter writer(h.config("file://" + h.bare.string()), options());
  auto result = writer.revert(h.request());
  INFO(result.status().message());
  REQUIRE(result.is_ok());
  CHECK(result->attempts == 1);
  check_revert_landed(h, *result, h.later);
  // The later work by someone else is still there.
  CHECK(h.git_bare({"show", "main:README"}) == "deploy repo, edited");
  CHECK(h.git_bare({"show", "main:services/billing.yaml"}) ==
        h.git_bare({"show", h.later + ":services/billing.yaml"}));

  // Asked again (a restart before the outcome was recorded): found on the branch, not repeated.
  auto again = writer.revert(h.request());
  REQUIRE(again.is_ok());
  CHECK_FALSE(again->pushed);
  CHECK(again->commit == result->commit);
  CHECK(h.head() == result->commit);
}

TEST_CASE("a concurrent push is merged onto, never overwritten", "[gitops][writeback]") {
  History h;
  REQUIRE(run({"git", "clone", "-q", h.bare.string(), (h.tmp.path / "other").string()},
              h.tmp.path) == 0);
  WorkRepo other(h.tmp.path / "other");  // re-initialising a clone keeps it, sets the identity
  other.git({"config", "user.name", "Bob"});
  other.git({"config", "user.email", "bob@example.com"});
  std::string concurrent;
  WriteBackOptions o = options();
  o.before_push = [&](int attempt) {
    if (attempt != 1) return;
    // Someone pushes between Sluice's fetch and its push.
    other.write("services/billing.yaml", other_yaml(5));
    concurrent = other.commit("billing to 5 replicas");
    REQUIRE(other.git({"push", "-q", "origin", "main"}) == 0);
  };
  GitWriter writer(h.config("file://" + h.bare.string()), o);
  auto result = writer.revert(h.request());
  INFO(result.status().message());
  REQUIRE(result.is_ok());
  CHECK(result->attempts == 2);
  REQUIRE_FALSE(concurrent.empty());
  check_revert_landed(h, *result, concurrent);
  CHECK(h.git_bare({"show", "main:services/billing.yaml"}) == trim(other_yaml(5)));
  // Nothing was lost: the concurrent commit is an ancestor of the branch.
  CHECK(run({"git", "--git-dir", h.bare.string(), "merge-base", "--is-ancestor", concurrent,
             "main"},
            h.tmp.path) == 0);
}

TEST_CASE("a later edit of the same lines is a conflict: nothing is pushed",
          "[gitops][writeback]") {
  History h;
  // The version line is edited again after the bad commit (same template: a comment).
  std::string content = rollout_yaml("orders", 2, "2.0.0");
  const std::string line = "    version: \"2.0.0\"\n";
  content.replace(content.find(line), line.size(), "    version: \"2.0.0\"  # pinned by ops\n");
  h.work.write("services/orders.yaml", content);
  const std::string edited = h.work.commit("pin orders");
  REQUIRE(h.work.git({"push", "-q", "origin", "main"}) == 0);
  GitWriter writer(h.config("file://" + h.bare.string()), options());
  auto result = writer.revert(h.request());
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().message().find("conflicts with later edits of services/orders.yaml") !=
        std::string::npos);
  CHECK(h.head() == edited);
}

TEST_CASE("write-back over git:// from git daemon and a refused push given up with the reason",
          "[gitops][writeback][daemon]") {
  History h;
  GitDaemon daemon(h.tmp.path);
  GitWriter writer(h.config(daemon.url("origin.git")), options());
  auto result = writer.revert(h.request());
  INFO(result.status().message());
  REQUIRE(result.is_ok());
  check_revert_landed(h, *result, h.later);

  // A second history whose server refuses every push (a protected branch).
  History refused;
  fs::path hook = refused.bare / "hooks" / "pre-receive";
  std::ofstream(hook) << "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n";
  fs::permissions(hook, fs::perms::owner_all);
  GitDaemon daemon2(refused.tmp.path);
  GitWriter refused_writer(refused.config(daemon2.url("origin.git")), options());
  auto no = refused_writer.revert(refused.request());
  REQUIRE_FALSE(no.is_ok());
  CHECK(no.status().message().find("refused") != std::string::npos);
  CHECK(no.status().message().find("did not move") != std::string::npos);
  CHECK(refused.head() == refused.later);
}

TEST_CASE("write-back errors never carry credentials", "[gitops][writeback]") {
  History h;
  fs::path token = h.tmp.path / "token";
  std::ofstream(token) << "tok-s3cr3t-value\n";
  // Nothing listens on this port: the fetch fails, quoting the URL.
  RepoConfig c = h.config("http://sluice:pw-s3cr3t@127.0.0.1:" + std::to_string(free_port()) +
                          "/origin.git");
  c.auth.password_file = token.string();
  GitWriter writer(c, options());
  auto result = writer.revert(h.request());
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().message().find("127.0.0.1") != std::string::npos);
  CHECK(result.status().message().find("s3cr3t") == std::string::npos);
}

TEST_CASE("read-only repositories and authors are told apart at configuration time",
          "[gitops][writeback]") {
  RepoConfig c;
  c.url = "https://git.example/deploy.git";
  CHECK(read_only_reason(c).find("without a token") != std::string::npos);
  c.auth.password_file = "/etc/sluice/token";
  CHECK(read_only_reason(c).empty());
  c.url = "ssh://git@git.example/deploy.git";
  CHECK(read_only_reason(c).find("without a key") != std::string::npos);
  c.auth.ssh_key_file = "/etc/sluice/id_ed25519";
  CHECK(read_only_reason(c).empty());
  c.url = "git://127.0.0.1/deploy.git";
  CHECK(read_only_reason(c).empty());
  auto author = parse_author("Sluice Bot <sluice@example.com>");
  REQUIRE(author.is_ok());
  CHECK(author->first == "Sluice Bot");
  CHECK(author->second == "sluice@example.com");
  CHECK_FALSE(parse_author("sluice@example.com").is_ok());
  CHECK_FALSE(parse_author("Sluice <nobody>").is_ok());
  CHECK_FALSE(parse_author("<a@b>").is_ok());
}
