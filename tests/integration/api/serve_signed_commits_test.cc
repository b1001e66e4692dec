// Signed commits with the real `sluice serve` (issue 21, part 5): with `repo.verify` in its config
// file, serve applies a head signed by a trusted SSH key; an unsigned head and one signed by an
// untrusted key are refused while the last good revision keeps running (the same instances), and
// /api/v1/source names the commit, the signer (or its absence) and the reason; a later trusted
// commit is applied. Real git repository, keys made by ssh-keygen, commits signed by git itself,
// real instances (sluice-testsvc).
#include <catch2/catch.hpp>
#include "tests/support/paths/paths.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_support.h"
#include "tests/integration/gitops/signing_fixture.h"

using nlohmann::json;
using namespace std::chrono_literals;
using namespace gitops_test;

namespace {

const std::string kBin = sluice::test::bin_dir();

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// `sluice serve ARGS` with stdout and stderr in a file (a long log never blocks it on a pipe);
// SIGKILLed at the end unless it was stopped.
class Serve {
 public:
  Serve(std::vector<std::string> argv, const std::string& log_path) {
    argv.insert(argv.begin(), {kBin + "/sluice", "serve"});
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Serve() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  // Waits (bounded) for serve to exit by itself; its exit code, or -1.
  int exit_code(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

json get_json(int port, const std::string& target) {
  sluice::testing::TestConnection conn(static_cast<unsigned short>(port));
  if (!conn.connected() || conn.write(sluice::testing::http_get(target))) return json();
  auto res = conn.read_response();
  if (!res || res->result_int() != 200) return json();
  return json::parse(res->body(), nullptr, false);
}

// Polls every 100 ms until `done` holds (bounded: a liveness limit, not a speed target).
bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

// Pids of the processes whose environment holds `marker` (this test's instances).
std::set<int> marked_pids(const std::string& marker) {
  std::set<int> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    if (text.find(marker) != std::string::npos) pids.insert(std::stoi(name));
  }
  return pids;
}

std::string manifest(const std::string& marker_value, const std::string& version) {
  return "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: svc}\nspec:\n"
         "  replicas: 1\n  template:\n    version: \"" + version + "\"\n"
         "    command: [\"" + kBin + "/sluice-testsvc\", \"--port\", \"$(PORT)\"]\n"
         "    env: [{name: SLUICE_TEST_MARKER, value: \"" + marker_value + "\"}]\n"
         "    ports: [{name: http, containerPort: 0}]\n"
         "    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 0.1}\n"
         "  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n";
}

}  // namespace

TEST_CASE("serve with repo.verify: refused heads keep the last good revision running and a "
          "trusted one is applied",
          "[serve][gitops][verify]") {
  TempDir dir;
  const std::string marker_value = dir.path.string();
  const std::string marker = "SLUICE_TEST_MARKER=" + marker_value;
  struct Cleanup {
    std::string marker;
    ~Cleanup() {
      for (int pid : marked_pids(marker)) ::kill(pid, SIGKILL);
    }
  } cleanup{marker};
  WorkRepo repo(dir.path / "repo");
  SshKey alice(dir.path / "keys", "alice");
  SshKey mallory(dir.path / "keys", "mallory");
  const fs::path allowed = dir.path / "allowed_signers";
  write_allowed_signers(allowed, {{"alice@example.com", &alice}});
  const fs::path config = dir.path / "sluice.yaml";
  std::ofstream(config) << "repo:\n  url: " << repo.dir.string()
                        << "\n  poll: 1s\n  verify: {mode: ssh, allowedSignersFile: "
                        << allowed.string() << "}\n";

  repo.write("svc.yaml", manifest(marker_value, "1"));
  const std::string good = commit_ssh_signed(repo, alice, "svc 1");
  const int port = free_port();
  Serve serve({"--config", config.string(), "--state-dir", (dir.path / "state").string(),
               "--listen", "127.0.0.1:" + std::to_string(port), "--log-format", "json"},
              (dir.path / "serve.log").string());
  REQUIRE(serve.started());
  auto rollout = [&] { return get_json(port, "/api/v1/rollouts/svc"); };
  auto source = [&] { return get_json(port, "/api/v1/source"); };
  const bool healthy = eventually([&] {
    json r = rollout();
    return r.is_object() && r.value("phase", "") == "Healthy" && r["stable"].is_object() &&
           r["stable"].value("version", "") == "1" && r["stable"].value("ready", 0) == 1;
  });
  INFO(rollout().dump());
  REQUIRE(healthy);
  json s = source();
  CHECK(s["commit"] == good);
  CHECK(s["verify"]["mode"] == "ssh");
  CHECK(s["signature"]["signer"] == "alice@example.com");
  CHECK(s["signature"]["key"] == alice.fingerprint);
  const std::set<int> running = marked_pids(marker);
  REQUIRE(running.size() == 1);

  struct Refused {
    std::string sha;
    std::string reason;
    json key;
  };
  repo.write("svc.yaml", manifest(marker_value, "2"));
  const Refused unsigned_head{repo.commit("svc 2, unsigned"), "unsigned", nullptr};
  repo.write("svc.yaml", manifest(marker_value, "3"));
  const Refused untrusted_head{commit_ssh_signed(repo, mallory, "svc 3, by mallory"), "untrusted",
                               mallory.fingerprint};
  // Each head in turn: the branch is moved to it and serve's poll fetches it.
  for (const Refused& head : {unsigned_head, untrusted_head}) {
    INFO(head.reason);
    repo.git({"update-ref", "refs/heads/main", head.sha});
    REQUIRE(eventually([&] {
      json x = source();
      return x.is_object() && x["error"].is_object() && x["error"]["commit"] == head.sha;
    }));
    s = source();
    INFO(s.dump());
    CHECK(s["commit"] == good);  // the applied commit is still the last good one
    CHECK(s["error"]["signature"]["verified"] == false);
    CHECK(s["error"]["signature"]["reason"] == head.reason);
    CHECK(s["error"]["signature"]["signer"].is_null());
    CHECK(s["error"]["signature"]["key"] == head.key);
    CHECK(s["error"]["message"].get<std::string>().find(head.reason) != std::string::npos);
    json r = rollout();
    CHECK(r["desired"]["commit"] == good);
    CHECK(r["desired"]["version"] == "1");
    CHECK(r["phase"] == "Healthy");
    CHECK(r["canary"].is_null());
    CHECK(marked_pids(marker) == running);  // the same instance keeps serving
  }
  const std::string metrics = [&] {
    sluice::testing::TestConnection conn(static_cast<unsigned short>(port));
    REQUIRE(!conn.write(sluice::testing::http_get("/metrics")));
    auto res = conn.read_response();
    REQUIRE(res);
    return res->body();
  }();
  CHECK(metrics.find("sluice_git_unverified_heads_total 2\n") != std::string::npos);

  // A trusted commit on top is applied and rolled out.
  repo.write("svc.yaml", manifest(marker_value, "4"));
  const std::string trusted = commit_ssh_signed(repo, alice, "svc 4");
  const bool rolled = eventually([&] {
    json r = rollout();
    return r.is_object() && r["stable"].is_object() && r["stable"].value("version", "") == "4" &&
           r.value("phase", "") == "Healthy";
  });
  INFO(rollout().dump());
  CHECK(rolled);
  s = source();
  CHECK(s["commit"] == trusted);
  CHECK(s["error"].is_null());
  CHECK(s["signature"]["signer"] == "alice@example.com");
}

TEST_CASE("serve refuses to start when the repo.verify trust file is missing (file and line)",
          "[serve][gitops][verify]") {
  TempDir dir;
  const fs::path config = dir.path / "sluice.yaml";
  const std::string missing = (dir.path / "no-such-allowed-signers").string();
  std::ofstream(config) << "repo:\n  url: " << (dir.path / "repo").string()
                        << "\n  verify:\n    mode: ssh\n    allowedSignersFile: " << missing
                        << "\n";
  const std::string log = (dir.path / "serve.log").string();
  Serve serve({"--config", config.string(), "--state-dir", (dir.path / "state").string(),
               "--listen", "127.0.0.1:" + std::to_string(free_port())},
              log);
  REQUIRE(serve.started());
  CHECK(serve.exit_code(20s) == 3);
  std::ifstream in(log);
  const std::string printed((std::istreambuf_iterator<char>(in)), {});
  CHECK_THAT(printed, Catch::Contains(config.string() + ":5: repo.verify.allowedSignersFile " +
                                      missing + " is not a file"));
}
