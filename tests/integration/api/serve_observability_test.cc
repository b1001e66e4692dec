// What an operator's pipeline reads from a real `sluice serve` (issue 20): with --log-format json
// every line of its log is one JSON object, every recorded event (a step, an operator's abort) is
// a line with rollout, revision, version, commit, event, reason and actor, and a refused commit
// is a line with its file and line; /metrics counts the abort by reason and shows the replicas
// and weights per role. Real git repository, real serve, real instances (sluice-testsvc).
#include <catch2/catch.hpp>
#include "tests/support/paths/paths.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_support.h"

using nlohmann::json;
using sluice::testing::ChildProcess;
using namespace std::chrono_literals;

namespace {

const std::string kBin = sluice::test::bin_dir();

struct Run {
  int exit_code;
  std::string out;
};

Run run(std::vector<std::string> argv, std::vector<std::string> env = {}) {
  ChildProcess p(argv, env);
  REQUIRE(p.started());
  int code = p.wait(30'000ms);
  return {code, p.output()};
}

Run sluice_cli(std::vector<std::string> args) {
  args.insert(args.begin(), kBin + "/sluice");
  return run(args);
}

std::string git(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/git", "-C", dir});
  auto r = run(args, {"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
                      "GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com"});
  REQUIRE(r.exit_code == 0);
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

int free_loopback_port() {
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

// `sluice serve` with stdout and stderr appended to a file, so a long log never blocks it on a
// full pipe. SIGKILLed at the end unless it was stopped.
class Serve {
 public:
  Serve(const std::vector<std::string>& argv, const std::string& log_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      if (kv.rfind("SLUICE_", 0) != 0) env_strings.push_back(kv);
    }
    std::vector<char*> envp;
    for (auto& kv : env_strings) envp.push_back(kv.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, args.data(), envp.data()) != 0)
      pid_ = -1;
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
  // SIGTERM, then waits (bounded) for the exit; the exit code, or -1.
  int stop(std::chrono::milliseconds timeout) {
    ::kill(pid_, SIGTERM);
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

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Waits (bounded, polling every 200 ms) until `done` holds.
bool eventually(const std::function<bool()>& done, int attempts = 150) {
  for (int i = 0; i < attempts; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return done();
}

int kill_marked_processes(const std::string& marker) {
  int killed = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    std::string environ_text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    if (environ_text.find(marker) != std::string::npos) {
      ::kill(std::stoi(name), SIGKILL);
      ++killed;
    }
  }
  return killed;
}

std::string manifest(const std::string& dir, const std::string& version,
                     const std::string& replicas = "2") {
  return "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: svc}\nspec:\n"
         "  replicas: " + replicas + "\n  template:\n    version: \"" + version + "\"\n"
         "    command: [\"" + kBin + "/sluice-testsvc\", \"--port\", \"$(PORT)\"]\n"
         "    env: [{name: SLUICE_TEST_MARKER, value: \"" + dir + "\"}]\n"
         "    ports: [{name: http, containerPort: 0}]\n"
         "    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 0.1}\n"
         "  strategy: {canary: {steps: [{setWeight: 50}, {pause: {}}]}}\n";
}

void commit(const std::string& repo, const std::string& text, const std::string& message) {
  std::ofstream(repo + "/svc.yaml") << text;
  git(repo, {"add", "."});
  git(repo, {"commit", "-q", "-m", message});
}

std::string http_get_body(unsigned short port, const std::string& target) {
  sluice::testing::TestConnection conn(port);
  REQUIRE(conn.connected());
  REQUIRE(!conn.write(sluice::testing::http_get(target)));
  auto res = conn.read_response();
  REQUIRE(res);
  REQUIRE(res->result_int() == 200);
  return res->body();
}

}  // namespace

TEST_CASE("serve --log-format json: events, an abort and a refused commit are JSON lines",
          "[serve][logs][metrics]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sluice-serve-logs-" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  const std::string repo = (dir / "repo").string();
  const std::string log_path = (dir / "serve.log").string();
  const std::string marker = "SLUICE_TEST_MARKER=" + dir.string();
  std::filesystem::create_directories(repo);
  // Instances outlive serve by design: whatever happens, this test removes its own.
  struct Cleanup {
    std::filesystem::path dir;
    std::string marker;
    ~Cleanup() {
      kill_marked_processes(marker);
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir, marker};
  git(repo, {"init", "-q", "-b", "main"});
  commit(repo, manifest(dir.string(), "1"), "first");

  const int port = free_loopback_port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  Serve serve({kBin + "/sluice", "serve", "--repo", repo, "--state-dir", (dir / "state").string(),
               "--listen", "127.0.0.1:" + std::to_string(port), "--poll", "1s", "--log-format",
               "json"},
              log_path);
  REQUIRE(serve.started());
  auto rollout = [&] {
    auto r = sluice_cli({"get", "svc", "--server", url, "-o", "json"});
    json j = r.exit_code == 0 ? json::parse(r.out, nullptr, false) : json();
    return j.is_object() ? j : json::object();
  };
  REQUIRE(eventually([&] { return rollout().value("phase", "") == "Healthy"; }));

  // Revision 2 pauses at its step; an operator aborts it.
  commit(repo, manifest(dir.string(), "2"), "second");
  const std::string second = git(repo, {"rev-parse", "HEAD"});
  REQUIRE(eventually([&] { return rollout().value("phase", "") == "Paused"; }));
  auto abort = sluice_cli({"abort", "svc", "--server", url});
  INFO(abort.out);
  REQUIRE(abort.exit_code == 0);
  REQUIRE(eventually([&] { return rollout().value("aborted", false); }));

  // A commit whose manifest is invalid is refused; the last good one stays applied.
  commit(repo, manifest(dir.string(), "3", "many"), "broken");
  const std::string broken = git(repo, {"rev-parse", "HEAD"});
  REQUIRE(eventually([&] {
    return read_file(log_path).find("\"CommitRefused\"") != std::string::npos;
  }));

  // /metrics: the abort by its reason, replicas and weight per role.
  const std::string metrics = http_get_body(static_cast<unsigned short>(port), "/metrics");
  for (const char* series :
       {"sluice_rollout_aborts_total{rollout=\"svc\",reason=\"Aborted\"} 1\n",
        "sluice_rollout_replicas_desired{rollout=\"svc\",role=\"stable\"} 2\n",
        "sluice_rollout_weight{rollout=\"svc\",role=\"stable\"} 100\n"}) {
    INFO(series);
    CHECK(metrics.find(series) != std::string::npos);
  }

  CHECK(serve.stop(15'000ms) == 0);
  std::vector<json> lines;
  {
    std::istringstream in(read_file(log_path));
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      INFO(line);
      REQUIRE(j.is_object());  // every line is one JSON object
      CHECK(j["ts"].is_string());
      CHECK(j["level"].is_string());
      CHECK(j["msg"].is_string());
      lines.push_back(std::move(j));
    }
  }
  auto find = [&](const std::string& event, int64_t revision) -> const json* {
    for (const auto& j : lines) {
      if (j.value("event", json()) == event &&
          (revision == 0 || j.value("revision", json()) == revision))
        return &j;
    }
    return nullptr;
  };

  // The step of revision 2 and its abort, each with every field.
  const json* step = find("StepCompleted", 2);
  REQUIRE(step);
  CHECK((*step)["level"] == "info");
  const json* aborted = find("Aborted", 2);
  REQUIRE(aborted);
  INFO(aborted->dump());
  CHECK((*aborted)["level"] == "warning");
  CHECK((*aborted)["rollout"] == "svc");
  CHECK((*aborted)["version"] == "2");
  CHECK((*aborted)["commit"] == second);
  CHECK((*aborted)["actor"].is_string());
  CHECK((*aborted)["reason"].get<std::string>().find("revision 2") != std::string::npos);
  for (const auto* e : {step, aborted}) {
    for (const char* field : {"rollout", "revision", "version", "commit", "event", "reason",
                              "actor"}) {
      INFO(field);
      CHECK(e->contains(field));
    }
  }

  // The refused commit, with its file and line.
  const json* refused = find("CommitRefused", 0);
  REQUIRE(refused);
  CHECK((*refused)["level"] == "warning");
  CHECK((*refused)["commit"] == broken);
  CHECK((*refused)["file"] == "svc.yaml");
  CHECK((*refused)["line"].get<int>() > 0);

  CHECK(kill_marked_processes(marker) > 0);
}
