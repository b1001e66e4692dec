#include "tests/e2e/rollouts/e2e_env.h"

#include <fmt/format.h>

#include "tests/support/paths/paths.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sluice::testing {
namespace {

const std::string kBin = sluice::test::bin_dir();

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Tail of a log for failure messages.
std::string tail(const std::string& text, size_t n = 2000) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

// NUL-separated environment of a process; empty when unreadable (it exited, or is not ours).
std::string environ_of(const std::string& pid) {
  return slurp("/proc/" + pid + "/environ");
}

// NAME's value in a NUL-separated environment; empty when absent.
std::string env_value(const std::string& environ, const std::string& name) {
  const std::string key = name + "=";
  for (size_t at = 0; at < environ.size();) {
    const size_t end = std::min(environ.find('\0', at), environ.size());
    if (environ.compare(at, key.size(), key) == 0) {
      return environ.substr(at + key.size(), end - at - key.size());
    }
    at = end + 1;
  }
  return "";
}

}  // namespace

std::string orders_api_manifest(const E2eEnv& env, const std::string& name,
                                const std::string& version, int front_port,
                                const std::string& strategy) {
  return fmt::format(R"YAML(apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {{name: {0}}}
spec:
  replicas: 2
  template:
    version: "{1}"
    command: ["bin/orders-api", "--port", "$(PORT)", "--version", "{1}"]
    env: [{{name: SLUICE_E2E_MARKER, value: "{2}"}}]
    ports: [{{name: http, containerPort: 0}}]
    readinessProbe: {{httpGet: {{path: /healthz, port: http}}, periodSeconds: 0.1}}
    terminationGracePeriodSeconds: 10
  service: {{listen: "127.0.0.1:{3}", targetPort: http}}
  strategy:
{4}
)YAML",
                     name, version, env.marker_value(), front_port, strategy);
}

nlohmann::json CliResult::json() const {
  return nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
}

E2eEnv::E2eEnv() {
  repo_ = dir_.file("repo");
  state_ = dir_.file("state");
  std::filesystem::create_directories(repo_ + "/bin");
  // The manifests run bin/orders-api from the commit's checkout, as in examples/gitops.
  for (const char* service : {"orders-api", "orders-worker"}) {
    std::filesystem::copy_file(kBin + "/" + service, repo_ + "/bin/" + service);
  }
  git({"init", "-q", "-b", "main"});
  api_port_ = free_loopback_port();
}

E2eEnv::~E2eEnv() {
  if (serve_running()) kill_serve(SIGTERM);
  kill_instances();
  // The router process outlives serve too (it would stop by itself once the state dir is gone;
  // this is sooner).
  if (const pid_t pid = router_pid(); pid > 0) ::kill(pid, SIGKILL);
}

pid_t E2eEnv::router_pid() {
  const std::string text = slurp(state_ + "/router/router.pid");
  return text.empty() ? 0 : static_cast<pid_t>(std::atoi(text.c_str()));
}

void E2eEnv::write(const std::string& relative_path, const std::string& content) {
  const std::filesystem::path p = std::filesystem::path(repo_) / relative_path;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::trunc) << content;
}

void E2eEnv::git(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/git", "-C", repo_};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::spawn(
      argv,
      {"GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com", "GIT_COMMITTER_NAME=e2e",
       "GIT_COMMITTER_EMAIL=e2e@example.com"},
      dir_.file("git.log"));
  if (!child) throw std::runtime_error(child.status().message());
  if ((*child)->wait_exit(std::chrono::seconds(30)) != 0) {
    throw std::runtime_error("git " + args.front() + " failed: " + tail(slurp(dir_.file("git.log"))));
  }
}

std::string E2eEnv::commit(const std::string& message) {
  git({"add", "-A"});
  git({"commit", "-q", "-m", message});
  std::vector<std::string> argv = {"/usr/bin/git", "-C", repo_, "rev-parse", "HEAD"};
  const std::string out = dir_.file("rev-parse.out");
  std::filesystem::remove(out);
  auto child = ChildProcess::spawn(argv, {}, out, dir_.file("git.log"));
  if (!child || (*child)->wait_exit(std::chrono::seconds(30)) != 0) {
    throw std::runtime_error("git rev-parse failed");
  }
  std::string sha = slurp(out);
  while (!sha.empty() && (sha.back() == '\n' || sha.back() == '\r')) sha.pop_back();
  return sha;
}

bool E2eEnv::start_serve(std::string& why, const std::string& binary) {
  const std::string log = dir_.file("serve-" + std::to_string(++serve_runs_) + ".log");
  std::vector<std::string> argv = {binary.empty() ? kBin + "/sluice" : binary,
                                   "serve",
                                   "--repo",
                                   serve_repo_.empty() ? repo_ : serve_repo_,
                                   "--state-dir",
                                   state_,
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(api_port_),
                                   "--poll",
                                   serve_poll_,
                                   "--log-format",
                                   "json"};
  argv.insert(argv.end(), serve_args_.begin(), serve_args_.end());
  auto child = ChildProcess::spawn(argv, {}, log);
  if (!child) {
    why = child.status().message();
    return false;
  }
  serve_ = std::move(child).value();
  const bool up = poll_until(
      [&] {
        if (!serve_running()) return false;
        auto r = http(api_port_, "GET", "/readyz");
        return r.is_ok() && r->status == 200;
      },
      std::chrono::seconds(30));
  if (!up) why = "sluice serve did not become ready: " + tail(slurp(log));
  return up;
}

std::string E2eEnv::serve_log_path() const {
  return dir_.file("serve-" + std::to_string(serve_runs_) + ".log");
}

void E2eEnv::kill_serve(int sig) {
  if (!serve_) return;
  serve_->signal(sig);
  serve_->wait_exit(std::chrono::seconds(20));
  serve_.reset();  // SIGKILLs the group if it is still there
}

bool E2eEnv::serve_running() { return serve_ && !serve_->wait_exit(std::chrono::milliseconds(0)); }

CliResult E2eEnv::cli(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  args.insert(args.end(), {"--server", api_url()});
  return run_cli(std::move(args), timeout);
}

CliResult E2eEnv::offline_cli(std::vector<std::string> args) {
  return run_cli(std::move(args), std::chrono::seconds(60));
}

CliResult E2eEnv::run_cli(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  static int calls = 0;
  const std::string base = dir_.file("cli-" + std::to_string(++calls));
  args.insert(args.begin(), kBin + "/sluice");
  CliResult result;
  auto child = ChildProcess::spawn(args, {}, base + ".out", base + ".err");
  if (!child) {
    result.err = child.status().message();
    return result;
  }
  if (auto code = (*child)->wait_exit(timeout)) result.exit_code = *code;
  result.out = slurp(base + ".out");
  result.err = slurp(base + ".err");
  return result;
}

nlohmann::json E2eEnv::rollout(const std::string& name) {
  auto r = http(api_port_, "GET", "/api/v1/rollouts/" + name);
  if (!r.is_ok() || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

nlohmann::json E2eEnv::wait_rollout(const std::string& name,
                                    const std::function<bool(const nlohmann::json&)>& pred,
                                    std::chrono::milliseconds timeout, bool* held) {
  nlohmann::json last;
  const bool ok = poll_until(
      [&] {
        last = rollout(name);
        return !last.is_null() && !last.is_discarded() && pred(last);
      },
      timeout);
  if (held != nullptr) *held = ok;
  return last;
}

std::map<std::string, pid_t> E2eEnv::instance_pids() {
  std::map<std::string, pid_t> out;
  const std::string marker = "SLUICE_E2E_MARKER=" + dir_.path();
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string env = environ_of(pid);
    if (env.find(marker + '\0') == std::string::npos) continue;
    const std::string instance = env_value(env, "SLUICE_INSTANCE");
    if (!instance.empty()) out[instance] = std::stoi(pid);
  }
  return out;
}

std::vector<int> E2eEnv::instance_ports(const std::string& version, const std::string& port) {
  std::vector<int> out;
  for (const auto& [instance, pid] : instance_pids()) {
    const std::string environ = environ_of(std::to_string(pid));
    if (env_value(environ, "SLUICE_VERSION") != version) continue;
    const int number = std::atoi(env_value(environ, "PORT_" + port).c_str());
    if (number > 0) out.push_back(number);
  }
  return out;
}

int E2eEnv::kill_instances() {
  int killed = 0;
  for (const auto& [instance, pid] : instance_pids()) {
    ::kill(pid, SIGKILL);
    ++killed;
  }
  return killed;
}

LoadGenerator::LoadGenerator(const std::string& dir, int front_port, int rps, int connections) {
  std::filesystem::create_directories(dir);
  stats_file_ = dir + "/load-" + std::to_string(front_port) + ".json";
  auto child = ChildProcess::spawn(
      {kBin + "/orders-load", "--target", "127.0.0.1:" + std::to_string(front_port), "--rps",
       std::to_string(rps), "--connections", std::to_string(connections), "--duration-s", "600",
       "--stats-file", stats_file_, "--stats-interval-ms", "100"},
      {}, dir + "/load.log");
  if (!child) throw std::runtime_error(child.status().message());
  process_ = std::move(child).value();
}

LoadGenerator::~LoadGenerator() {
  if (process_) stop();
}

nlohmann::json LoadGenerator::stats() const {
  auto j = nlohmann::json::parse(slurp(stats_file_), nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

nlohmann::json LoadGenerator::stop() {
  if (!process_) return stats();
  process_->signal(SIGTERM);
  process_->wait_exit(std::chrono::seconds(20));
  process_.reset();
  return stats();
}

}  // namespace sluice::testing
