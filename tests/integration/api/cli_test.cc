// The real `sluice` binary against a real server process (fake_api_server: the ApiServer around
// the scripted fake facade), checking the CI exit codes 0/1/2/3 and the JSON output.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_support.h"

using nlohmann::json;
using sluice::testing::ChildProcess;
using namespace std::chrono_literals;

namespace {

const std::string kBin = SLUICE_BIN_DIR;

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
  std::ofstream(auth_file) << "# test tokens\nview-tok viewer viewer-bot\ndeploy-tok deployer ci\n";
  FakeServer server({"--auth-file", auth_file});
  CHECK(sluice_cli({"status", "inventory", "--server", server.url}).exit_code == 3);
  CHECK(sluice_cli({"status", "inventory", "--server", server.url}, {"SLUICE_TOKEN=view-tok"})
            .exit_code == 0);
  CHECK(sluice_cli({"promote", "orders-api", "--server", server.url, "--token", "view-tok"})
            .exit_code == 3);
  auto promoted = sluice_cli(
      {"promote", "orders-api", "--server", server.url, "--token", "deploy-tok", "-o", "json"});
  REQUIRE(promoted.exit_code == 0);
  CHECK(promoted.as_json()["currentStepIndex"] == 2);
  auto events = sluice_cli(
      {"events", "orders-api", "--server", server.url, "--token", "view-tok", "-o", "json"});
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

TEST_CASE("sluice serve without controller wiring exits 3 instead of serving a fake",
          "[cli][api]") {
  auto r = sluice_cli(
      {"serve", "--repo", "/nonexistent", "--listen", "127.0.0.1:0", "--log-format", "json"});
  CHECK(r.exit_code == 3);
  auto bad_config = sluice_cli({"serve", "--config", "/nonexistent/sluice.yaml"});
  CHECK(bad_config.exit_code == 3);
}
