// Git write-back end to end: a real `sluice serve` watches a bare repository served by a real
// `git daemon --enable=receive-pack` on loopback. A canary that crash-loops (orders-api without
// --port exits 2 at once) is aborted by Sluice itself (an automatic abort); Sluice pushes a revert of its commit, changing
// only that Rollout's file; the watcher delivers the revert and nothing rolls out (same
// revisions, same instance pids). The repository URL carries credentials, which must appear
// neither in serve's log nor in the API's events.
#include <signal.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/e2e_env.h"
#include "tests/support/process/test_process.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// `crash`: the command lacks --port, so every instance exits 2 at start (a crash loop).
std::string orders(const E2eEnv& env, const std::string& version, bool crash = false) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: orders}}
spec:
  replicas: 2
  gitWriteBack: {{onAbort: revert}}
  template:
    version: "{0}"
    command: ["bin/orders-api", {2}"--version", "{0}"]
    env: [{{name: SLUICE_E2E_MARKER, value: "{1}"}}]
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 5
  strategy:
    canary:
      steps: [{{setWeight: 50}}, {{pause: {{}}}}]
)YAML",
                     version, env.marker_value(), crash ? "" : "\"--port\", \"$(PORT)\", ");
}

// git with argv (no shell), in `dir`; its output in `out` when given. True on exit 0.
bool git(const E2eEnv& env, const std::vector<std::string>& args, std::string* out = nullptr) {
  std::vector<std::string> argv = {"/usr/bin/git"};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = env.dir() + "/git-e2e.out";
  std::filesystem::remove(log);
  auto child = ChildProcess::spawn(argv, {}, log, env.dir() + "/git-e2e.err");
  if (!child.is_ok()) return false;
  const bool ok = (*child)->wait_exit(std::chrono::seconds(30)) == 0;
  if (out) {
    std::ifstream in(log);
    out->assign(std::istreambuf_iterator<char>(in), {});
    while (!out->empty() && out->back() == '\n') out->pop_back();
  }
  return ok;
}

std::string slurp_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("an automatic abort is reverted in Git over git://, and the revert starts no rollout",
          "[e2e][gitops][writeback]") {
  E2eEnv env;
  const std::string bare = env.dir() + "/origin.git";
  env.write("services/orders.yaml", orders(env, "1.0.0"));
  env.write("services/README", "the orders service\n");
  const std::string v1 = env.commit("orders 1.0.0");
  REQUIRE(git(env, {"clone", "-q", "--bare", env.repo(), bare}));

  const int port = free_loopback_port();
  auto daemon = ChildProcess::spawn(
      {"/usr/bin/git", "daemon", "--export-all", "--enable=receive-pack",
       "--base-path=" + env.dir(), "--listen=127.0.0.1", "--port=" + std::to_string(port),
       "--reuseaddr", env.dir()},
      {}, env.dir() + "/daemon.log");
  REQUIRE(daemon.is_ok());
  const std::string plain_url = fmt::format("git://127.0.0.1:{}/origin.git", port);
  REQUIRE(poll_until([&] { return git(env, {"ls-remote", plain_url}); }, 10s));

  const std::string secret = "s3cr3t-e2e-pass";
  const std::string config = env.dir() + "/sluice.yaml";
  std::ofstream(config)
      << "gitWriteBack: {onAbort: none, author: \"Sluice Bot <sluice@example.com>\"}\n";
  env.set_serve_repo(fmt::format("git://deployer:{}@127.0.0.1:{}/origin.git", secret, port));
  env.set_serve_args({"--config", config});
  std::string why;
  REQUIRE(env.start_serve(why));
  INFO(why);
  auto st = env.cli({"status", "orders", "--wait", "--revision", v1, "--timeout", "60s"});
  INFO(st.out << st.err);
  REQUIRE(st.exit_code == 0);
  const auto pids_before = env.instance_pids();
  REQUIRE(pids_before.size() == 2);

  // Revision 2 crash-loops: Sluice aborts it.
  env.write("services/orders.yaml", orders(env, "2.0.0", /*crash=*/true));
  const std::string v2 = env.commit("orders 2.0.0");
  REQUIRE(git(env, {"-C", env.repo(), "push", "-q", bare, "main"}));
  json r = env.wait_rollout(
      "orders",
      [](const json& o) {
        return o.is_object() && o.contains("gitWriteBack") && o.at("gitWriteBack").is_object() &&
               o.at("gitWriteBack").value("result", "") != "Pending";
      },
      60s);
  INFO(r.dump(2));
  REQUIRE(r["gitWriteBack"]["result"] == "Pushed");
  CHECK(r["gitWriteBack"]["revision"] == 2);
  CHECK(r["gitWriteBack"]["commit"] == v2);
  const std::string revert = r["gitWriteBack"]["revertCommit"].get<std::string>();

  // What landed: one commit on v2 by the configured author, changing only orders.yaml back.
  std::string head, parent, changed, content, stable_content, author, message;
  REQUIRE(git(env, {"--git-dir", bare, "rev-parse", "main"}, &head));
  CHECK(head == revert);
  REQUIRE(git(env, {"--git-dir", bare, "rev-parse", revert + "^"}, &parent));
  CHECK(parent == v2);
  REQUIRE(git(env, {"--git-dir", bare, "diff", "--name-only", v2, revert}, &changed));
  CHECK(changed == "services/orders.yaml");
  REQUIRE(git(env, {"--git-dir", bare, "show", revert + ":services/orders.yaml"}, &content));
  REQUIRE(git(env, {"--git-dir", bare, "show", v1 + ":services/orders.yaml"}, &stable_content));
  CHECK(content == stable_content);
  REQUIRE(git(env, {"--git-dir", bare, "show", "-s", "--format=%an <%ae>", revert}, &author));
  CHECK(author == "Sluice Bot <sluice@example.com>");
  REQUIRE(git(env, {"--git-dir", bare, "show", "-s", "--format=%B", revert}, &message));
  CHECK(message.find("rollout orders") != std::string::npos);
  CHECK(message.find(v2) != std::string::npos);
  CHECK(message.find("CrashLoop") != std::string::npos);

  // The watcher delivers the revert: recorded, nothing rolls out.
  r = env.wait_rollout(
      "orders",
      [&](const json& o) {
        return o.is_object() && o.contains("sync") &&
               o.at("sync").value("gitRevision", "") == revert;
      },
      30s);
  CHECK(r["sync"]["status"] == "Synced");
  r = env.wait_rollout(
      "orders", [](const json& o) { return o.is_object() && o.value("phase", "") == "Healthy"; },
      30s);
  CHECK(r["aborted"] == false);
  CHECK(r["stable"]["revision"] == 1);
  CHECK(r["desired"]["revision"] == 1);
  CHECK(r["canary"].is_null());
  auto history = http(env.api_port(), "GET", "/api/v1/rollouts/orders/history");
  REQUIRE(history.is_ok());
  CHECK(json::parse(history->body)["items"].size() == 2);
  std::this_thread::sleep_for(2s);  // a few reconciles later, still the same processes
  CHECK(env.instance_pids() == pids_before);

  // The events say so, and nothing anywhere carries the URL's password.
  auto events = http(env.api_port(), "GET", "/api/v1/rollouts/orders/events");
  REQUIRE(events.is_ok());
  const json ev = json::parse(events->body);
  bool pushed_event = false;
  for (const auto& e : ev.is_array() ? ev : ev["items"]) {
    if (e["reason"] == "GitWriteBack") pushed_event = e["type"] == "Normal";
  }
  CHECK(pushed_event);
  CHECK(events->body.find(secret) == std::string::npos);
  env.kill_serve(SIGTERM);
  const std::string log = slurp_file(env.dir() + "/serve-1.log");
  CHECK(log.find("git write-back") != std::string::npos);
  CHECK(log.find(secret) == std::string::npos);
}

TEST_CASE("a server that only reads its repository refuses gitWriteBack at startup",
          "[e2e][gitops][writeback]") {
  E2eEnv env;
  env.write("services/orders.yaml", orders(env, "1.0.0"));
  env.commit("orders 1.0.0");
  const std::string config = env.dir() + "/sluice.yaml";
  std::ofstream(config) << "repo: {url: \"https://git.invalid/deploy.git\"}\n"
                           "gitWriteBack: {onAbort: revert, author: \"Sluice <s@example.com>\"}\n";
  auto serve = env.offline_cli({"serve", "--config", config, "--state-dir", env.dir() + "/state2",
                                "--listen", "127.0.0.1:0"});
  CHECK(serve.exit_code != 0);
  CHECK((serve.err + serve.out).find("sluice.yaml:2: gitWriteBack.onAbort is revert, but Sluice "
                                     "only reads its repository") != std::string::npos);
  CHECK((serve.err + serve.out).find("without a token") != std::string::npos);
}
