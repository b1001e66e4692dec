// The real `sluice` binary against a real server process (fake_api_server: the ApiServer around
// the scripted fake facade), checking the CI exit codes 0/1/2/3 and the JSON output.
#include <catch2/catch.hpp>
#include "tests/support/paths/paths.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_support.h"

using nlohmann::json;
using sluice::testing::ChildProcess;
using namespace std::chrono_literals;

namespace {

const std::string kBin = sluice::test::bin_dir();

struct FakeServer {
  std::unique_ptr<ChildProcess> process;
  std::string url;

  explicit FakeServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {kBin + "/fake_api_server", "--listen", "127.0.0.1:0",
                                     "--tick-ms", "150"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process = std::make_unique<ChildProcess>(argv);
    REQUIRE(process->started());
    auto line = process->read_line(10'000ms);
    REQUIRE(line);
    REQUIRE(line->rfind("listening on ", 0) == 0);
    url = "http://" + line->substr(13);
  }
  ~FakeServer() {
    process->terminate();
    process->wait(5000ms);
  }
};

struct CliResult {
  int exit_code;
  std::string out;
  json as_json() const { return json::parse(out, nullptr, false); }
};

CliResult sluice_cli(std::vector<std::string> args, std::vector<std::string> env = {}) {
  args.insert(args.begin(), kBin + "/sluice");
  ChildProcess p(args, env);
  REQUIRE(p.started());
  int code = p.wait(30'000ms);
  return {code, p.output()};
}

}  // namespace

TEST_CASE("cli get: table and -o json", "[cli][api]") {
  FakeServer server;
  auto list = sluice_cli({"get", "--server", server.url, "-o", "json"});
  REQUIRE(list.exit_code == 0);
  CHECK(list.as_json()["items"].size() == 5);
  auto one = sluice_cli({"get", "orders-api", "-o", "json"}, {"SLUICE_SERVER=" + server.url});
  REQUIRE(one.exit_code == 0);
  CHECK(one.as_json()["phase"] == "Paused");
  auto table = sluice_cli({"get", "--server", server.url});
  CHECK(table.exit_code == 0);
  auto missing = sluice_cli({"get", "nope", "--server", server.url});
  CHECK(missing.exit_code == 3);
}

TEST_CASE("cli status: 0 healthy at revision, 1 degraded with evidence, 2 timeout, 3 error",
          "[cli][api]") {
  FakeServer server;
  auto ok = sluice_cli({"status", "checkout", "--wait", "--revision", "feedbeef", "--timeout",
                        "20s", "--interval", "100ms", "--server", server.url, "-o", "json"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.as_json()["result"] == "succeeded");
  CHECK(ok.as_json()["phase"] == "Healthy");

  auto degraded = sluice_cli({"status", "payments", "--server", server.url, "-o", "json"});
  CHECK(degraded.exit_code == 1);
  json d = degraded.as_json();
  CHECK(d["result"] == "failed");
  CHECK(d["message"].get<std::string>().find("success-rate 0.82") != std::string::npos);
  CHECK(d["evidence"]["metric"] == "success-rate");

  auto timeout = sluice_cli({"status", "search", "--wait", "--timeout", "600ms", "--interval",
                             "100ms", "--server", server.url, "-o", "json"});
  CHECK(timeout.exit_code == 2);
  CHECK(timeout.as_json()["result"] == "timeout");

  auto wrong_commit =
      sluice_cli({"status", "inventory", "--revision", "deadbeef", "--server", server.url});
  CHECK(wrong_commit.exit_code == 2);

  CHECK(sluice_cli({"status", "nope", "--server", server.url}).exit_code == 3);
  CHECK(sluice_cli({"status", "inventory", "--server", "http://127.0.0.1:1"}).exit_code == 3);
  auto paused = sluice_cli({"status", "orders-api", "--success-on-pause", "--server", server.url});
  CHECK(paused.exit_code == 0);
}

TEST_CASE("cli with auth: 3 without a token, SLUICE_TOKEN works, verbs need deployer",
          "[cli][api]") {
  auto dir =
      std::filesystem::temp_directory_path() / ("sluice-cli-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto auth_file = (dir / "tokens").string();
  const std::string view = "view-token-0123456789", deploy = "deploy-token-0123456789";
  std::ofstream(auth_file) << "# test tokens\n"
                           << view << " viewer viewer-bot\n"
                           << deploy << " deployer ci\n";
  FakeServer server({"--auth-file", auth_file});
  CHECK(sluice_cli({"status", "inventory", "--server", server.url}).exit_code == 3);
  CHECK(sluice_cli({"status", "inventory", "--server", server.url}, {"SLUICE_TOKEN=" + view})
            .exit_code == 0);
  CHECK(sluice_cli({"promote", "orders-api", "--server", server.url, "--token", view})
            .exit_code == 3);
  auto promoted = sluice_cli(
      {"promote", "orders-api", "--server", server.url, "--token", deploy, "-o", "json"});
  REQUIRE(promoted.exit_code == 0);
  CHECK(promoted.as_json()["currentStepIndex"] == 2);
  auto events = sluice_cli(
      {"events", "orders-api", "--server", server.url, "--token", view, "-o", "json"});
  REQUIRE(events.exit_code == 0);
  CHECK(events.as_json()["items"].back()["actor"] == "ci");
  std::filesystem::remove_all(dir);
}

TEST_CASE("cli verbs, undo, history, events", "[cli][api]") {
  FakeServer server;
  auto full = sluice_cli({"promote", "orders-api", "--full", "--server", server.url, "-o", "json"});
  REQUIRE(full.exit_code == 0);
  CHECK(full.as_json()["phase"] == "Healthy");
  CHECK(sluice_cli({"promote", "inventory", "--server", server.url}).exit_code == 1);  // 409
  auto undo =
      sluice_cli({"undo", "inventory", "--to-revision", "6", "--server", server.url, "-o", "json"});
  REQUIRE(undo.exit_code == 0);
  CHECK(undo.as_json()["desired"]["version"] == "2.3.0");
  CHECK(sluice_cli({"pause", "inventory", "--server", server.url}).exit_code == 0);
  CHECK(sluice_cli({"resume", "inventory", "--server", server.url}).exit_code == 0);
  CHECK(sluice_cli({"abort", "inventory", "--server", server.url}).exit_code == 0);
  CHECK(sluice_cli({"retry", "inventory", "--server", server.url}).exit_code == 0);
  auto history = sluice_cli({"history", "orders-api", "--server", server.url, "-o", "json"});
  REQUIRE(history.exit_code == 0);
  CHECK(history.as_json()["items"].size() == 2);
  auto events = sluice_cli({"events", "payments", "--server", server.url, "-o", "json"});
  REQUIRE(events.exit_code == 0);
  bool aborted = false;
  const json event_list = events.as_json();
  for (auto& e : event_list["items"]) aborted = aborted || e["type"] == "Aborted";
  CHECK(aborted);
  CHECK(sluice_cli({"history", "nope", "--server", server.url}).exit_code == 3);
}

TEST_CASE("cli events --watch and get --watch follow a verb live", "[cli][api]") {
  FakeServer server;
  ChildProcess events(
      {kBin + "/sluice", "events", "orders-api", "--watch", "--server", server.url, "-o", "json"});
  ChildProcess get({kBin + "/sluice", "get", "orders-api", "--watch", "--server", server.url});
  REQUIRE(events.started());
  REQUIRE(get.started());
  // The recorded events come first (oldest first, one JSON object per line). What was recorded
  // is read from the server, so the watch is followed up to its last id, with a bound per line
  // rather than a quiet window: a slow start under load (ASan, 2 busy cores) is not "no events".
  auto recorded = sluice_cli({"events", "orders-api", "--server", server.url, "-o", "json"});
  REQUIRE(recorded.exit_code == 0);
  const json recorded_items = recorded.as_json()["items"];
  REQUIRE(!recorded_items.empty());
  const uint64_t recorded_last_id = recorded_items.back()["id"].get<uint64_t>();
  uint64_t last_id = 0;
  size_t replayed = 0;
  while (last_id < recorded_last_id) {
    auto line = events.read_line(30'000ms);
    REQUIRE(line);
    json e = json::parse(*line, nullptr, false);
    REQUIRE(e.is_object());
    CHECK(e["rollout"] == "orders-api");
    CHECK(e["id"].get<uint64_t>() > last_id);
    last_id = e["id"].get<uint64_t>();
    ++replayed;
  }
  CHECK(last_id == recorded_last_id);
  CHECK(replayed == recorded_items.size());
  // The first drawing of `get --watch` marks the second step, numbered from 1 (plain text:
  // stdout is not a TTY).
  bool drawn = false;
  for (int i = 0; i < 1000 && !drawn; ++i) {
    auto line = get.read_line(5000ms);
    REQUIRE(line);
    drawn = line->find("-> 2. pause (until promoted)") != std::string::npos;
  }
  REQUIRE(drawn);

  REQUIRE(sluice_cli({"promote", "orders-api", "--server", server.url}).exit_code == 0);
  auto next = events.read_line(30'000ms);
  REQUIRE(next);
  json e = json::parse(*next, nullptr, false);
  REQUIRE(e.is_object());
  CHECK(e["id"].get<uint64_t>() > last_id);
  CHECK(e["rollout"] == "orders-api");
  bool redrawn = false;
  for (int i = 0; i < 1000 && !redrawn; ++i) {
    auto line = get.read_line(5000ms);
    REQUIRE(line);
    redrawn = line->find("-> 3. setWeight 50%") != std::string::npos;
  }
  CHECK(redrawn);
  events.terminate();
  get.terminate();
  events.wait(5000ms);
  get.wait(5000ms);
}

TEST_CASE("sluice serve with a bad config file exits 3", "[cli][serve]") {
  auto bad_config = sluice_cli({"serve", "--config", "/nonexistent/sluice.yaml"});
  CHECK(bad_config.exit_code == 3);
}

namespace {

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

void run_git(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/git", "-C", dir});
  ChildProcess p(args, {"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
                        "GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com"});
  REQUIRE(p.started());
  REQUIRE(p.wait(20'000ms) == 0);
}

// Kills every process whose environment carries marker (the instances serve leaves running on
// purpose: they are adopted by the next start).
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

}  // namespace

TEST_CASE("sluice serve applies a Git commit, serves the API, and refuses a second instance",
          "[cli][serve]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sluice-serve-" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  const std::string repo = (dir / "repo").string();
  const std::string state = (dir / "state").string();
  const std::string marker = "SLUICE_TEST_MARKER=" + dir.string();
  std::filesystem::create_directories(repo);
  {
    std::ofstream m(repo + "/svc.yaml");
    m << "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: svc}\nspec:\n"
         "  replicas: 2\n  template:\n    version: \"1\"\n"
         "    command: [\""
      << kBin
      << "/sluice-testsvc\", \"--port\", \"$(PORT)\"]\n"
         "    env: [{name: SLUICE_TEST_MARKER, value: \""
      << dir.string()
      << "\"}]\n"
         "    ports: [{name: http, containerPort: 0}]\n"
         "    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 0.1}\n"
         "  strategy: {rollingUpdate: {maxSurge: 1}}\n";
  }
  run_git(repo, {"init", "-q", "-b", "main"});
  run_git(repo, {"add", "."});
  run_git(repo, {"commit", "-q", "-m", "first"});

  const std::string listen = "127.0.0.1:" + std::to_string(free_loopback_port());
  const std::string url = "http://" + listen;
  ChildProcess serve({kBin + "/sluice", "serve", "--repo", repo, "--state-dir", state, "--listen",
                      listen, "--poll", "1s", "--log-format", "json"});
  REQUIRE(serve.started());

  // Wait (bounded) until the server answers and knows the rollout.
  bool known = false;
  for (int i = 0; i < 100 && !known; ++i) {
    known = sluice_cli({"get", "svc", "--server", url, "-o", "json"}).exit_code == 0;
    if (!known) std::this_thread::sleep_for(200ms);
  }
  REQUIRE(known);
  // The first commit comes up at full size and becomes Healthy: status --wait says so (exit 0).
  auto status = sluice_cli({"status", "svc", "--wait", "--timeout", "25s", "--server", url});
  INFO(status.out);
  CHECK(status.exit_code == 0);
  auto rollout = sluice_cli({"get", "svc", "--server", url, "-o", "json"}).as_json();
  CHECK(rollout["phase"] == "Healthy");
  CHECK(rollout["stable"]["ready"] == 2);
  CHECK(rollout["desired"]["revision"] == 1);

  // /metrics of the real serve carries the contract's names, the Git fetch counter included.
  {
    sluice::testing::TestConnection conn(
        static_cast<unsigned short>(std::stoi(listen.substr(listen.rfind(':') + 1))));
    REQUIRE(conn.connected());
    REQUIRE(!conn.write(sluice::testing::http_get("/metrics")));
    auto res = conn.read_response();
    REQUIRE(res);
    CHECK(res->result_int() == 200);
    const std::string text = res->body();
    for (const char* name :
         {"sluice_rollout_phase{rollout=\"svc\",phase=\"Healthy\"} 1", "sluice_rollout_info{",
          "sluice_reconcile_duration_seconds_count ", "sluice_git_fetch_total{result=\"success\"} ",
          "sluice_git_fetch_total{result=\"error\"} 0", "process_resident_memory_bytes "}) {
      INFO(name);
      CHECK(text.find(name) != std::string::npos);
    }
    CHECK(text.find("sluice_git_fetch_total{result=\"success\"} 0\n") == std::string::npos);
  }

  // A second controller on the same state dir is refused at once.
  auto second = sluice_cli({"serve", "--repo", repo, "--state-dir", state, "--listen",
                            "127.0.0.1:" + std::to_string(free_loopback_port())});
  CHECK(second.exit_code == 3);

  serve.terminate();
  CHECK(serve.wait(15'000ms) == 0);
  // Instances outlive the controller (adopted on the next start); this test cleans them up.
  CHECK(kill_marked_processes(marker) == 2);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST_CASE("cli lint, plan and version work offline with their exit codes", "[cli]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sluice-cli-offline-" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  const std::string repo = (dir / "repo").string();
  std::filesystem::create_directories(repo);
  const std::string good =
      "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: svc}\nspec:\n"
      "  replicas: 1\n  template:\n    version: \"1\"\n    command: [\"/bin/true\"]\n"
      "  strategy: {canary: {steps: [{setWeight: 20}, {pause: {}}]}}\n";
  std::ofstream(repo + "/svc.yaml") << good;
  auto ok = sluice_cli({"lint", repo, "-o", "json"});
  CHECK(ok.exit_code == 0);
  json okj = ok.as_json();
  CHECK(okj["valid"] == true);
  REQUIRE(okj["rollouts"].size() == 1);
  CHECK(okj["rollouts"][0]["name"] == "svc");
  CHECK(okj["rollouts"][0]["strategy"] == "canary");

  const std::string bad_file = (dir / "bad.yaml").string();
  std::ofstream(bad_file) << "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\n"
                             "metadata: {name: bad}\nspec:\n  replicas: -1\n";
  auto bad = sluice_cli({"lint", bad_file, "-o", "json"});
  CHECK(bad.exit_code == 1);
  json badj = bad.as_json();
  CHECK(badj["valid"] == false);
  REQUIRE_FALSE(badj["errors"].empty());
  CHECK(badj["errors"][0]["file"].get<std::string>().find("bad.yaml") != std::string::npos);
  CHECK(badj["errors"][0]["line"].get<int>() > 0);
  CHECK(sluice_cli({"lint", bad_file}).exit_code == 1);

  run_git(repo, {"init", "-q", "-b", "main"});
  run_git(repo, {"add", "."});
  run_git(repo, {"commit", "-q", "-m", "first"});
  std::string second = good;
  second.replace(second.find("version: \"1\""), 12, "version: \"2\"");
  std::ofstream(repo + "/svc.yaml") << second;
  run_git(repo, {"commit", "-q", "-am", "second"});
  auto plan = sluice_cli({"plan", "--repo", repo, "-o", "json"});
  CHECK(plan.exit_code == 0);
  INFO(plan.out);
  json planj = plan.as_json();
  CHECK(planj["ok"] == true);
  REQUIRE(planj["rollouts"].size() == 1);
  CHECK(planj["rollouts"][0]["name"] == "svc");
  CHECK(planj["rollouts"][0]["action"] == "new revision");
  CHECK(planj["rollouts"][0]["version"]["to"] == "2");
  CHECK(sluice_cli({"plan", "--repo", (dir / "nope").string()}).exit_code == 1);

  auto version = sluice_cli({"version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.rfind("sluice ", 0) == 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

namespace {

// A real `sluice serve` over a real Git repository of one Rollout `svc` (sluice-testsvc
// instances, killed at the end: they outlive serve by design).
struct ServeRepo {
  std::filesystem::path dir;
  std::string repo, state, marker, listen, url;
  std::unique_ptr<ChildProcess> serve;

  explicit ServeRepo(const std::string& name) {
    dir = std::filesystem::temp_directory_path() /
          (name + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    repo = (dir / "repo").string();
    state = (dir / "state").string();
    marker = "SLUICE_TEST_MARKER=" + dir.string();
    std::filesystem::create_directories(repo);
    run_git(repo, {"init", "-q", "-b", "main"});
    listen = "127.0.0.1:" + std::to_string(free_loopback_port());
    url = "http://" + listen;
  }
  ~ServeRepo() {
    stop();
    kill_marked_processes(marker);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // Commits svc at `version` with `strategy` (YAML flow mapping); returns the commit's SHA.
  std::string commit(const std::string& version, const std::string& strategy, int replicas = 2) {
    std::ofstream(repo + "/svc.yaml")
        << "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: {name: svc}\nspec:\n"
        << "  replicas: " << replicas << "\n  template:\n    version: \"" << version << "\"\n"
        << "    command: [\"" << kBin << "/sluice-testsvc\", \"--port\", \"$(PORT)\"]\n"
        << "    env: [{name: SLUICE_TEST_MARKER, value: \"" << dir.string() << "\"}]\n"
        << "    ports: [{name: http, containerPort: 0}]\n"
        << "    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 0.1}\n"
        << "  strategy: " << strategy << "\n";
    return commit_all("svc " + version);
  }
  std::string commit_all(const std::string& message) {
    run_git(repo, {"add", "-A"});
    run_git(repo, {"commit", "-q", "-m", message});
    ChildProcess head({"/usr/bin/git", "-C", repo, "rev-parse", "HEAD"});
    REQUIRE(head.started());
    auto sha = head.read_line(10'000ms);
    REQUIRE(sha);
    head.wait(10'000ms);
    return *sha;
  }

  void start() {
    serve = std::make_unique<ChildProcess>(std::vector<std::string>{
        kBin + "/sluice", "serve", "--repo", repo, "--state-dir", state, "--listen", listen,
        "--poll", "1h", "--log-format", "json"});
    REQUIRE(serve->started());
    bool known = false;
    for (int i = 0; i < 150 && !known; ++i) {
      known = sluice_cli({"get", "svc", "--server", url, "-o", "json"}).exit_code == 0;
      if (!known) std::this_thread::sleep_for(200ms);
    }
    REQUIRE(known);
  }
  void stop() {
    if (!serve) return;
    serve->terminate();
    serve->wait(15'000ms);
    serve.reset();
  }
  void sync() {
    auto synced = sluice_cli({"sync", "--server", url});
    INFO(synced.out);
    REQUIRE(synced.exit_code == 0);
  }
  json get() { return sluice_cli({"get", "svc", "--server", url, "-o", "json"}).as_json(); }
};

const std::string kQuickCanary =
    "{canary: {steps: [{setWeight: 50}, {pause: {duration: 0s}}, {setWeight: 75}, "
    "{pause: {duration: 0s}}, {setWeight: 100}]}}";
const std::string kGatedCanary = "{canary: {steps: [{setWeight: 50}, {pause: {}}]}}";

// Phases in order, each repeat dropped.
std::vector<std::string> distinct_in_order(const std::vector<std::string>& phases) {
  std::vector<std::string> out;
  for (const auto& p : phases)
    if (out.empty() || out.back() != p) out.push_back(p);
  return out;
}

bool is_subsequence(const std::vector<std::string>& part, const std::vector<std::string>& whole) {
  size_t at = 0;
  for (const auto& p : whole)
    if (at < part.size() && part[at] == p) ++at;
  return at == part.size();
}

}  // namespace

TEST_CASE("get --watch against a real serve shows every phase change and ends on the final state",
          "[cli][serve][watch]") {
  ServeRepo s("sluice-watch");
  s.commit("1", kQuickCanary);
  s.start();
  REQUIRE(sluice_cli({"status", "svc", "--wait", "--timeout", "60s", "--server", s.url})
              .exit_code == 0);
  const json before = sluice_cli({"events", "svc", "--server", s.url, "-o", "json"}).as_json();
  const uint64_t first_id =
      before["items"].empty() ? 0 : before["items"].back()["id"].get<uint64_t>();

  ChildProcess watch({kBin + "/sluice", "get", "svc", "--watch", "--server", s.url, "-o", "json"});
  REQUIRE(watch.started());
  std::vector<std::string> phases;
  // The first line is the rollout as the stream started: from here on nothing is missed.
  auto first = watch.read_line(30'000ms);
  REQUIRE(first);
  REQUIRE(json::parse(*first, nullptr, false).is_object());
  phases.push_back(json::parse(*first)["phase"]);

  // Many quick transitions: three commits, each a canary of five steps that never waits.
  std::string sha;
  for (const char* version : {"2", "3", "4"}) {
    sha = s.commit(version, kQuickCanary);
    s.sync();
    auto done = sluice_cli({"status", "svc", "--wait", "--revision", sha, "--timeout", "90s",
                            "--server", s.url});
    INFO(done.out);
    REQUIRE(done.exit_code == 0);
  }
  // The watch must print the rollout exactly as the server holds it now. Things settle after
  // Healthy too (old instances go), so each printed object is compared with a fresh GET, until
  // one matches; a watch stuck on an older state never matches and runs into the bound.
  bool final_seen = false;
  std::string last_line;
  for (int i = 0; i < 2000 && !final_seen; ++i) {
    auto line = watch.read_line(30'000ms);
    if (!line) break;
    json object = json::parse(*line, nullptr, false);
    REQUIRE(object.is_object());
    phases.push_back(object["phase"]);
    last_line = *line;
    final_seen = object == s.get();
  }
  INFO("last line printed: " << last_line);
  INFO("final GET: " << s.get().dump());
  CHECK(final_seen);
  // Every phase the recorded events moved the rollout to was drawn, in order.
  const json after = sluice_cli({"events", "svc", "--server", s.url, "-o", "json"}).as_json();
  std::vector<std::string> event_phases;
  for (const auto& e : after["items"])
    if (e["id"].get<uint64_t>() > first_id && e["rollout"] == "svc")
      event_phases.push_back(e["to"]);
  const auto want = distinct_in_order(event_phases);
  const auto drawn = distinct_in_order(phases);
  CHECK(want.size() >= 3);
  std::string want_text, drawn_text;
  for (const auto& p : want) want_text += p + " ";
  for (const auto& p : drawn) drawn_text += p + " ";
  INFO("events moved it to: " << want_text);
  INFO("the watch drew: " << drawn_text);
  CHECK(is_subsequence(want, drawn));
  watch.terminate();
  watch.wait(5000ms);
}

TEST_CASE("get against a real serve shows the revision tree with its instances",
          "[cli][serve][tree]") {
  ServeRepo s("sluice-tree");
  s.commit("1", "{rollingUpdate: {maxSurge: 1}}");
  s.start();
  REQUIRE(sluice_cli({"status", "svc", "--wait", "--timeout", "60s", "--server", s.url})
              .exit_code == 0);
  // The rollout object carries one entry per instance, as the runtime reports it.
  json r = s.get();
  REQUIRE(r["instances"].is_array());
  REQUIRE(r["instances"].size() == 2);
  for (const auto& i : r["instances"]) {
    INFO(i.dump());
    CHECK(i["id"].is_string());
    CHECK(i["revision"] == 1);
    CHECK(i["version"] == "1");
    CHECK(i["role"] == "stable");
    CHECK(i["ready"] == true);
    CHECK(i["terminating"] == false);
    CHECK(i["startedAt"].is_string());
    CHECK(i["readySince"].is_string());
    CHECK(i["restarts"] == 0);
    CHECK(i["crashLoop"] == false);
    CHECK(i["lastExit"].is_null());
    CHECK_FALSE(i.contains("env"));
  }
  // `get svc` draws them under their revision.
  auto text = sluice_cli({"get", "svc", "--server", s.url});
  INFO(text.out);
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find("# revision 1  1  stable") != std::string::npos);
  for (const auto& i : r["instances"]) {
    CHECK(text.out.find(i["id"].get<std::string>()) != std::string::npos);
  }
  CHECK(text.out.find("\u2714 ready") != std::string::npos);
  CHECK(text.out.find("restarts:0") != std::string::npos);
  // An instance that is killed is restarted and shows its restart and how it ended.
  const std::string killed_id = r["instances"][0]["id"];
  bool restarted = false;
  {
    // The instance's process is the one whose environment names it (SLUICE_INSTANCE).
    const std::string id_entry = "SLUICE_INSTANCE=" + killed_id + std::string(1, '\0');
    int killed = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string pid = entry.path().filename();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(entry.path() / "environ", std::ios::binary);
      std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (env.find(s.marker) == std::string::npos) continue;
      if (env.find(id_entry) == std::string::npos) continue;
      ::kill(std::stoi(pid), SIGKILL);
      ++killed;
    }
    REQUIRE(killed == 1);
  }
  json after;
  for (int i = 0; i < 150 && !restarted; ++i) {
    after = s.get();
    for (const auto& inst : after["instances"]) {
      if (inst["id"] == killed_id && inst["restarts"].get<int>() >= 1 &&
          inst["lastExit"].is_object())
        restarted = true;
    }
    if (!restarted) std::this_thread::sleep_for(200ms);
  }
  INFO(after.dump(2));
  REQUIRE(restarted);
  for (const auto& inst : after["instances"]) {
    if (inst["id"] != killed_id) continue;
    CHECK(inst["lastExit"]["signal"] == 9);
    CHECK(inst["lastExit"]["reason"].get<std::string>().find("signal 9") != std::string::npos);
    CHECK(inst["lastExit"]["at"].is_string());
  }
  auto redrawn = sluice_cli({"get", "svc", "--server", s.url});
  CHECK(redrawn.out.find("last exit: ") != std::string::npos);
}

TEST_CASE("status --wait against a real serve: progress, superseded and unchanging commits, "
          "an unreachable server",
          "[cli][serve][status]") {
  ServeRepo s("sluice-status");
  const std::string sha1 = s.commit("1", kGatedCanary);
  s.start();
  auto first = sluice_cli({"status", "svc", "--wait", "--revision", sha1, "--timeout", "60s",
                           "--interval", "100ms", "--server", s.url});
  INFO(first.out);
  REQUIRE(first.exit_code == 0);

  // Revision 2 stops at its gate; revision 3 replaces it before anyone promotes.
  const std::string sha2 = s.commit("2", kGatedCanary);
  s.sync();
  auto paused = sluice_cli({"status", "svc", "--wait", "--revision", sha2, "--success-on-pause",
                            "--timeout", "60s", "--interval", "100ms", "--server", s.url});
  INFO(paused.out);
  REQUIRE(paused.exit_code == 0);
  // While it waits, it prints each change it sees: at least the line it started on and the last.
  CHECK(paused.out.find("svc is ") != std::string::npos);
  const std::string sha3 = s.commit("3", kGatedCanary);
  s.sync();
  // The superseded commit fails at once (no waiting for --timeout) and names the newer revision.
  const auto started = std::chrono::steady_clock::now();
  auto superseded = sluice_cli({"status", "svc", "--wait", "--revision", sha2.substr(0, 10),
                                "--timeout", "10m", "--server", s.url, "-o", "json"});
  INFO(superseded.out);
  CHECK(superseded.exit_code == 1);
  CHECK(std::chrono::steady_clock::now() - started < 5min);
  const json sj = superseded.as_json();
  CHECK(sj["result"] == "failed");
  CHECK(sj["message"].get<std::string>().find("superseded by revision 3") != std::string::npos);
  CHECK(sj["message"].get<std::string>().find(sha3.substr(0, 8)) != std::string::npos);

  // Promote revision 3 to the end, then a commit that does not touch svc: the wait for it is
  // answered by svc as it is (Healthy at revision 3), and says that the commit made no revision.
  REQUIRE(sluice_cli({"promote", "svc", "--full", "--server", s.url}).exit_code == 0);
  REQUIRE(sluice_cli({"status", "svc", "--wait", "--revision", sha3, "--timeout", "60s",
                      "--interval", "100ms", "--server", s.url})
              .exit_code == 0);
  std::ofstream(s.repo + "/README.md") << "not a manifest\n";
  const std::string sha4 = s.commit_all("docs only");
  s.sync();
  auto unchanged = sluice_cli({"status", "svc", "--wait", "--revision", sha4, "--timeout", "60s",
                               "--interval", "100ms", "--server", s.url, "-o", "json"});
  INFO(unchanged.out);
  CHECK(unchanged.exit_code == 0);
  CHECK(unchanged.as_json()["message"].get<std::string>().find("made no new revision of svc") !=
        std::string::npos);
  // A commit the server has not seen keeps it waiting, until --timeout (exit 2).
  auto unseen = sluice_cli({"status", "svc", "--wait", "--revision", "0123456789abcdef",
                            "--timeout", "1s", "--interval", "100ms", "--server", s.url});
  CHECK(unseen.exit_code == 2);
  // An unknown rollout is an answer, not an outage: exit 3 at once, even with --wait.
  CHECK(sluice_cli({"status", "nope", "--wait", "--timeout", "10m", "--server", s.url})
            .exit_code == 3);

  // The server goes away: --wait retries until --timeout and names the last error (exit 2).
  s.stop();
  auto down = sluice_cli({"status", "svc", "--wait", "--timeout", "2s", "--interval", "100ms",
                          "--server", s.url});
  INFO(down.out);
  CHECK(down.exit_code == 2);
  CHECK(down.out.find("timed out after 2s; last error: cannot connect") != std::string::npos);
  // Without --wait, an unreachable server is an error at once (exit 3).
  CHECK(sluice_cli({"status", "svc", "--server", s.url}).exit_code == 3);
  // A wait that started while the server was down succeeds once it is back.
  ChildProcess waiting({kBin + "/sluice", "status", "svc", "--wait", "--timeout", "120s",
                        "--interval", "200ms", "--server", s.url});
  REQUIRE(waiting.started());
  auto waiting_line = waiting.read_line(30'000ms);  // it says what it waits for
  REQUIRE(waiting_line);
  CHECK(waiting_line->find("waiting: cannot connect") != std::string::npos);
  s.start();
  CHECK(waiting.wait(120'000ms) == 0);
  INFO(waiting.output());
  CHECK(waiting.output().find("svc is Healthy") != std::string::npos);
}

TEST_CASE("cli lint checks analysis args against templates given as another path", "[cli]") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sluice-cli-lint-args-" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir / "analysis");
  const std::string templ = (dir / "analysis" / "rate.yaml").string();
  std::ofstream(templ) << "apiVersion: sluice.dev/v1alpha1\nkind: AnalysisTemplate\n"
                          "metadata: {name: success-rate}\nspec:\n"
                          "  args: [{name: min-success-rate, value: \"0.99\"}]\n"
                          "  metrics:\n"
                          "    - name: rate\n"
                          "      successCondition: \"result >= {{args.min-success-rate}}\"\n"
                          "      provider: {builtin: {metric: request-success-rate}}\n";
  const std::string rollout = (dir / "svc.yaml").string();
  std::ofstream(rollout) << "apiVersion: sluice.dev/v1alpha1\nkind: Rollout\n"
                            "metadata: {name: svc}\nspec:\n"
                            "  template: {command: [\"/bin/true\"]}\n"
                            "  strategy:\n"
                            "    canary:\n"
                            "      steps:\n"
                            "        - setWeight: 20\n"
                            "        - analysis:\n"
                            "            templates: [{templateName: success-rate}]\n"
                            "            args: [{name: min-succes-rate, value: \"0.5\"}]\n";
  auto bad = sluice_cli({"lint", rollout, templ, "-o", "json"});
  CHECK(bad.exit_code == 1);
  json badj = bad.as_json();
  INFO(bad.out);
  REQUIRE(badj["errors"].size() == 1);
  const json& e = badj["errors"][0];
  CHECK(e["field"] == "spec.strategy.canary.steps[1].analysis.args[0].name");
  CHECK(e["line"] == 12);
  CHECK(e["file"].get<std::string>().find("svc.yaml") != std::string::npos);
  CHECK_THAT(e["message"].get<std::string>(), Catch::Contains("did you mean \"min-success-rate\""));
  CHECK_THAT(e["message"].get<std::string>(), Catch::Contains("rate.yaml:1"));

  // Lint with the right name passes; without the template's path the template is missing.
  std::string text;
  {
    std::ifstream in(rollout);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  text.replace(text.find("min-succes-rate"), 15, "min-success-rate");
  std::ofstream(rollout) << text;
  CHECK(sluice_cli({"lint", rollout, templ}).exit_code == 0);
  auto alone = sluice_cli({"lint", rollout, "-o", "json"});
  CHECK(alone.exit_code == 1);
  REQUIRE(alone.as_json()["errors"].size() == 1);
  CHECK_THAT(alone.as_json()["errors"][0]["message"].get<std::string>(),
             Catch::Contains("no AnalysisTemplate named \"success-rate\""));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
