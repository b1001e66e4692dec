#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "git_fixture.h"
#include "gitops/known_hosts.h"
#include "gitops/repository.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;

namespace {

RepoConfig config_for(const std::string& url, const fs::path& state,
                      const std::string& ref = "main") {
  RepoConfig c;
  c.url = url;
  c.ref = ref;
  c.state_dir = state.string();
  c.fetch_timeout = Duration(10'000);
  return c;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE("fetch from a local path follows the branch and detects a force-push",
          "[gitops][repository]") {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  work.write("services/a.yaml", "x: 1\n");
  std::string first = work.commit("first");

  auto repo = GitRepository::open_mirror(config_for(work.dir.string(), tmp.path / "state"));
  REQUIRE(repo.is_ok());
  auto f1 = (*repo)->fetch();
  REQUIRE(f1.is_ok());
  CHECK(f1->head == first);
  CHECK(f1->previous_head.empty());
  CHECK_FALSE(f1->forced);
  CHECK(fs::is_directory(tmp.path / "state" / "git" / "mirror.git"));

  work.write("services/a.yaml", "x: 2\n");
  std::string second = work.commit("second");
  auto f2 = (*repo)->fetch();
  REQUIRE(f2.is_ok());
  CHECK(f2->head == second);
  CHECK(f2->previous_head == first);
  CHECK_FALSE(f2->forced);

  // Rewrite history: drop "second" and commit something else on top of "first".
  REQUIRE(work.git({"reset", "-q", "--hard", first}) == 0);
  work.write("services/a.yaml", "x: 3\n");
  std::string rewritten = work.commit("rewritten");
  auto f3 = (*repo)->fetch();
  REQUIRE(f3.is_ok());
  CHECK(f3->head == rewritten);
  CHECK(f3->previous_head == second);
  CHECK(f3->forced);

  // The mirror survives a reopen with the same head.
  repo->reset();
  auto reopened = GitRepository::open_mirror(config_for(work.dir.string(), tmp.path / "state"));
  REQUIRE(reopened.is_ok());
  CHECK((*reopened)->current_head().value() == rewritten);
}

TEST_CASE("fetch follows a tag and sees it move", "[gitops][repository]") {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  work.write("a.yaml", "v: 1\n");
  std::string v1 = work.commit("v1");
  REQUIRE(work.git({"tag", "release"}) == 0);
  work.write("a.yaml", "v: 2\n");
  std::string v2 = work.commit("v2");

  auto repo = GitRepository::open_mirror(
      config_for("file://" + work.dir.string(), tmp.path / "s", "release"));
  REQUIRE(repo.is_ok());
  auto f = (*repo)->fetch();
  REQUIRE(f.is_ok());
  CHECK(f->head == v1);
  REQUIRE(work.git({"tag", "-f", "release", v2}) == 0);
  f = (*repo)->fetch();
  REQUIRE(f.is_ok());
  CHECK(f->head == v2);
}

TEST_CASE("fetch errors: unknown branch, unreachable remote, corrupt pack",
          "[gitops][repository]") {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  work.write("a.yaml", "v: 1\n");
  work.commit("one");

  SECTION("unknown branch") {
    auto repo = GitRepository::open_mirror(config_for(work.dir.string(), tmp.path / "s", "nope"));
    REQUIRE(repo.is_ok());
    auto f = (*repo)->fetch();
    REQUIRE_FALSE(f.is_ok());
    CHECK(f.status().code() == StatusCode::kNotFound);
    CHECK(f.status().message().find("nope") != std::string::npos);
  }
  SECTION("unreachable remote") {
    auto repo = GitRepository::open_mirror(
        config_for("git://127.0.0.1:" + std::to_string(free_port()) + "/x.git", tmp.path / "s"));
    REQUIRE(repo.is_ok());
    auto f = (*repo)->fetch();
    REQUIRE_FALSE(f.is_ok());
    CHECK(f.status().code() == StatusCode::kUnavailable);
  }
  SECTION("missing local path") {
    auto repo =
        GitRepository::open_mirror(config_for((tmp.path / "missing").string(), tmp.path / "s"));
    REQUIRE(repo.is_ok());
    CHECK((*repo)->fetch().status().code() == StatusCode::kUnavailable);
  }
  SECTION("corrupt pack in a bare remote") {
    fs::path bare = tmp.path / "bare.git";
    REQUIRE(run({"git", "clone", "-q", "--bare", work.dir.string(), bare.string()}, tmp.path) == 0);
    REQUIRE(run({"git", "repack", "-a", "-d", "-q"}, bare) == 0);
    bool corrupted = false;
    for (const auto& e : fs::directory_iterator(bare / "objects" / "pack")) {
      if (e.path().extension() != ".pack") continue;
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      auto size = fs::file_size(e.path());
      for (std::streamoff off = 12; off + 20 < static_cast<std::streamoff>(size); off += 7) {
        f.seekp(off);
        f.put('\x5a');
      }
      corrupted = true;
    }
    REQUIRE(corrupted);
    auto repo = GitRepository::open_mirror(config_for(bare.string(), tmp.path / "s"));
    REQUIRE(repo.is_ok());
    auto f = (*repo)->fetch();
    REQUIRE_FALSE(f.is_ok());
    CHECK((*repo)->current_head().status().code() == StatusCode::kNotFound);
  }
}

TEST_CASE("checkout materialises a read-only tree per commit", "[gitops][repository]") {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  work.write("bin/run.sh", "#!/bin/sh\necho hi\n");
  REQUIRE(::chmod((work.dir / "bin/run.sh").c_str(), 0755) == 0);
  work.write("services/a.yaml", "v: 1\n");
  REQUIRE(::symlink("../../outside", (work.dir / "services/escape").c_str()) == 0);
  REQUIRE(::symlink("a.yaml", (work.dir / "services/alias.yaml").c_str()) == 0);
  std::string sha = work.commit("files");

  auto repo = GitRepository::open_mirror(config_for(work.dir.string(), tmp.path / "s"));
  REQUIRE(repo.is_ok());
  REQUIRE((*repo)->fetch().is_ok());
  auto dir = (*repo)->checkout(sha);
  REQUIRE(dir.is_ok());
  CHECK(fs::path(*dir) == tmp.path / "s" / "git" / "checkouts" / sha);
  std::ifstream in(fs::path(*dir) / "services/a.yaml");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  CHECK(content == "v: 1\n");
  auto perms = fs::status(fs::path(*dir) / "services/a.yaml").permissions();
  CHECK((perms & fs::perms::owner_write) == fs::perms::none);
  auto exec_perms = fs::status(fs::path(*dir) / "bin/run.sh").permissions();
  CHECK((exec_perms & fs::perms::owner_exec) != fs::perms::none);
  CHECK(fs::is_symlink(fs::path(*dir) / "services/alias.yaml"));
  CHECK_FALSE(fs::exists(fs::symlink_status(fs::path(*dir) / "services/escape")));
  // Idempotent.
  CHECK((*repo)->checkout(sha).value() == *dir);
  CHECK((*repo)->checkout(std::string(40, 'f')).status().code() == StatusCode::kNotFound);
}

TEST_CASE("fetch over git:// from a real git daemon on loopback", "[gitops][repository][daemon]") {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  work.write("a.yaml", "v: 1\n");
  std::string sha = work.commit("one");
  fs::path base = tmp.path / "served";
  fs::create_directories(base);
  REQUIRE(run({"git", "clone", "-q", "--bare", work.dir.string(), (base / "repo.git").string()},
              tmp.path) == 0);

  int port = free_port();
  std::vector<std::string> argv = {"git",
                                   "daemon",
                                   "--export-all",
                                   "--base-path=" + base.string(),
                                   "--listen=127.0.0.1",
                                   "--port=" + std::to_string(port),
                                   "--reuseaddr",
                                   base.string()};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawnp(&pid, "git", nullptr, nullptr, args.data(), environ) == 0);
  struct Killer {
    pid_t pid;
    ~Killer() {
      ::kill(pid, SIGTERM);
      int st;
      ::waitpid(pid, &st, 0);
    }
  } killer{pid};

  auto repo = GitRepository::open_mirror(
      config_for("git://127.0.0.1:" + std::to_string(port) + "/repo.git", tmp.path / "s"));
  REQUIRE(repo.is_ok());
  Result<FetchResult> f = unavailable("not yet");
  for (int i = 0; i < 100 && !f.is_ok(); ++i) {  // the daemon needs a moment to listen
    f = (*repo)->fetch();
    if (!f.is_ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(f.is_ok());
  CHECK(f->head == sha);
}

TEST_CASE("known_hosts verification", "[gitops][repository]") {
  TempDir tmp;
  std::string key =
      std::string("\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20", 19) + std::string(32, 'k');
  // base64 of key computed by OpenSSL through the verifier's decoder round trip is not exposed;
  // write the base64 by hand with a small encoder.
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (size_t i = 0; i < key.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(key[i]) << 16;
    if (i + 1 < key.size()) n |= static_cast<uint8_t>(key[i + 1]) << 8;
    if (i + 2 < key.size()) n |= static_cast<uint8_t>(key[i + 2]);
    b64 += tbl[(n >> 18) & 63];
    b64 += tbl[(n >> 12) & 63];
    b64 += i + 1 < key.size() ? tbl[(n >> 6) & 63] : '=';
    b64 += i + 2 < key.size() ? tbl[n & 63] : '=';
  }
  fs::path kh = tmp.path / "known_hosts";
  std::ofstream(kh) << "# comment\n[git.example]:2222 ssh-ed25519 " << b64 << "\n";
  CHECK(verify_known_host(kh.string(), "git.example", key).is_ok());
  CHECK(verify_known_host(kh.string(), "other.example", key).code() ==
        StatusCode::kPermissionDenied);
  std::string other = key;
  other.back() = 'z';
  CHECK(verify_known_host(kh.string(), "git.example", other).code() ==
        StatusCode::kPermissionDenied);
  CHECK(redact_url("https://user:s3cret@host/x.git") == "https://host/x.git");
  CHECK(redact_url("/local/path") == "/local/path");
}
