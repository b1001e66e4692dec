#include "tests/support/rabbitmq/rabbitmq_broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/support/rabbitmq/amqp_test_client.h"

extern char** environ;

namespace sluice::testing {
namespace {

constexpr const char* kServer = "/usr/sbin/rabbitmq-server";
constexpr const char* kCtl = "/usr/sbin/rabbitmqctl";
constexpr const char* kEpmd = "/usr/bin/epmd";

// Spawns argv with the current environment plus `env`, output appended to `log_path`, in its
// own process group.
Result<pid_t> spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& log_path) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argp[0], &actions, &attr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return unavailable("spawn " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

// Waits for `pid` up to `timeout`; returns its exit status, or -1 if it is still running.
int wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return 0;  // already reaped
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status run_and_wait(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                    const std::string& log_path, std::chrono::milliseconds timeout) {
  auto pid = spawn(argv, env, log_path);
  if (!pid) return pid.status();
  int rc = wait_for(pid.value(), timeout);
  if (rc == -1) {
    ::kill(-pid.value(), SIGKILL);
    wait_for(pid.value(), std::chrono::seconds(5));
    return unavailable(argv[0] + " timed out");
  }
  if (rc != 0) return unavailable(argv[0] + " exited with " + std::to_string(rc));
  return Status::ok();
}

Status write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  return out ? Status::ok() : unavailable("cannot write " + path);
}

std::atomic<int> g_broker_counter{0};

}  // namespace

Result<std::unique_ptr<RabbitBroker>> RabbitBroker::start(const RabbitBrokerOptions& options) {
  if (::access(kServer, X_OK) != 0) return failed_precondition(std::string(kServer) + " missing");
  passwd* rabbit = ::getpwnam("rabbitmq");
  if (rabbit == nullptr) return failed_precondition("no rabbitmq user");

  std::unique_ptr<RabbitBroker> broker(new RabbitBroker());
  char tmpl[] = "/tmp/sluice-rabbitmq-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return unavailable("mkdtemp failed");
  broker->dir_ = tmpl;
  const std::string& d = broker->dir_;
  broker->node_ = "sluice-test-" + std::to_string(::getpid()) + "-" +
                  std::to_string(g_broker_counter.fetch_add(1)) + "@localhost";
  broker->amqp_port_ = free_loopback_port();
  broker->dist_port_ = free_loopback_port();
  broker->epmd_port_ = free_loopback_port();
  if (options.management) broker->management_port_ = free_loopback_port();

  std::string conf = "listeners.tcp.default = 127.0.0.1:" + std::to_string(broker->amqp_port_) +
                     "\nloopback_users.guest = true\n";
  if (options.management) {
    conf += "management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = " +
            std::to_string(broker->management_port_) + "\n";
  }
  std::error_code ec;
  std::filesystem::create_directories(d + "/mnesia", ec);
  std::filesystem::create_directories(d + "/log", ec);
  if (Status s = write_file(d + "/rabbitmq.conf", conf); !s) return s;
  if (Status s = write_file(d + "/enabled_plugins",
                            options.management ? "[rabbitmq_management].\n" : "[].\n");
      !s) {
    return s;
  }
  // The Debian wrapper drops to the rabbitmq user, which must own everything here.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(d)) {
    if (::chown(entry.path().c_str(), rabbit->pw_uid, rabbit->pw_gid) != 0) {
      return unavailable("chown " + entry.path().string() + " failed");
    }
  }
  if (::chown(d.c_str(), rabbit->pw_uid, rabbit->pw_gid) != 0 || ::chmod(d.c_str(), 0755) != 0) {
    return unavailable("chown " + d + " failed");
  }

  auto pid = spawn({kServer}, broker->server_env(), d + "/server.out");
  if (!pid) return pid.status();
  broker->server_pid_ = pid.value();

  std::chrono::seconds timeout = options.start_timeout;
  if (const char* t = std::getenv("SLUICE_RABBITMQ_START_TIMEOUT_S"); t != nullptr && *t) {
    timeout = std::chrono::seconds(std::atoi(t));
  }
  if (Status s = broker->wait_ready(timeout, options.management); !s) return s;
  return broker;
}

std::vector<std::string> RabbitBroker::server_env() const {
  const std::string& d = dir_;
  return {"RABBITMQ_NODENAME=" + node_,
          "RABBITMQ_MNESIA_BASE=" + d + "/mnesia",
          "RABBITMQ_LOG_BASE=" + d + "/log",
          "RABBITMQ_CONFIG_FILE=" + d + "/rabbitmq",
          "RABBITMQ_ENABLED_PLUGINS_FILE=" + d + "/enabled_plugins",
          "RABBITMQ_FEATURE_FLAGS_FILE=" + d + "/feature_flags",
          "RABBITMQ_PLUGINS_EXPAND_DIR=" + d + "/plugins-expand",
          "RABBITMQ_DIST_PORT=" + std::to_string(dist_port_),
          "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
          "ERL_EPMD_ADDRESS=127.0.0.1",
          "ERL_EPMD_PORT=" + std::to_string(epmd_port_)};
}

Status RabbitBroker::wait_ready(std::chrono::seconds timeout, bool management) {
  auto started = std::chrono::steady_clock::now();
  auto deadline = started + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(server_pid_, &status, WNOHANG) == server_pid_) {
      server_pid_ = -1;
      return unavailable("rabbitmq-server exited during start-up:\n" + output_tail());
    }
    auto client = AmqpTestClient::connect(amqp_port_);
    if (client) {
      if (!management) return Status::ok();
      // The management listener comes up after AMQP; a TCP connect is enough here.
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(management_port_));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      ::close(fd);
      if (up) return Status::ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return Status(StatusCode::kDeadlineExceeded,
                "RabbitMQ did not start within " + std::to_string(timeout.count()) + " s (node " +
                    node_ + ", AMQP port " + std::to_string(amqp_port_) + "):\n" + output_tail());
}

std::string RabbitBroker::output_tail() const {
  std::ifstream in(dir_ + "/server.out");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
}

std::string RabbitBroker::amqp_url() const {
  return "amqp://guest:guest@127.0.0.1:" + std::to_string(amqp_port_) + "/";
}

Status RabbitBroker::stop() {
  if (stopped_) return Status::ok();
  stopped_ = true;
  Status result = Status::ok();
  if (server_pid_ > 0) {
    result = run_and_wait({kCtl, "-n", node_, "stop"}, server_env(), dir_ + "/ctl.out",
                          std::chrono::seconds(30));
    if (wait_for(server_pid_, std::chrono::seconds(result ? 30 : 1)) == -1) {
      // The wrapper runs `su rabbitmq -c ...`; the whole group goes.
      ::kill(-server_pid_, SIGKILL);
      wait_for(server_pid_, std::chrono::seconds(5));
      if (result) result = unavailable("rabbitmq-server did not stop; killed");
    }
    server_pid_ = -1;
  }
  // The broker started its own epmd on epmd_port_; no other node uses it.
  Status epmd = run_and_wait({kEpmd, "-port", std::to_string(epmd_port_), "-kill"}, {},
                             dir_ + "/epmd.out", std::chrono::seconds(10));
  (void)epmd;  // absent when the broker never got that far
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  return result;
}

Status RabbitBroker::stop_app() {
  return run_and_wait({kCtl, "-n", node_, "stop_app"}, server_env(), dir_ + "/ctl.out",
                      std::chrono::seconds(30));
}

Status RabbitBroker::start_app() {
  Status s = run_and_wait({kCtl, "-n", node_, "start_app"}, server_env(), dir_ + "/ctl.out",
                          std::chrono::seconds(60));
  if (!s) return s;
  return wait_ready(std::chrono::seconds(30), management_port_ != 0);
}

RabbitBroker::~RabbitBroker() { (void)stop(); }

}  // namespace sluice::testing
