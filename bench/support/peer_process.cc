#include "bench/support/peer_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace sluice::bench {

namespace {

sockaddr_in loopback(unsigned short port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

bool port_accepts(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in addr = loopback(port);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close_paren = text.rfind(')');  // the command name may hold spaces
  if (close_paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

unsigned short free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof(addr);
  unsigned short port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool wait_for_port(unsigned short port, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (port_accepts(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

PeerProcess::PeerProcess(std::string name) : name_(std::move(name)) {
  std::string tmpl = "/tmp/sluice-bench-" + name_ + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) != nullptr) dir_ = tmpl;
}

PeerProcess::~PeerProcess() {
  stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::string PeerProcess::write_file(const std::string& file, const std::string& text) const {
  const std::string path = dir_ + "/" + file;
  std::ofstream(path) << text;
  return path;
}

bool PeerProcess::start(const std::vector<std::string>& argv, unsigned short port) {
  stop();
  error_.clear();
  const std::string log = dir_ + "/peer.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (auto& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  const int rc = ::posix_spawnp(&pid_, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    error_ = name_ + ": spawn " + argv.front() + ": " + std::strerror(rc);
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    if (port_accepts(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop();
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  error_ = name_ + ": did not listen on 127.0.0.1:" + std::to_string(port) + "; " + log + ": " +
           text.substr(text.size() > 600 ? text.size() - 600 : 0);
  return false;
}

void PeerProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
}

double cpu_seconds(pid_t pid) {
  if (pid <= 0) return 0;
  double total = process_cpu_seconds(pid);
  std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                         "/children");
  pid_t child = 0;
  while (children >> child) total += process_cpu_seconds(child);
  return total;
}

namespace {

cpu_set_t cpu_set_of(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  return set;
}

// Calls `apply(tid)` for every task (thread) of `pid` and of its direct children; false when
// one call fails or there is no task.
template <class Apply>
bool for_each_task(pid_t pid, const Apply& apply) {
  if (pid <= 0) return false;
  std::vector<pid_t> processes = {pid};
  std::ifstream children("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                         "/children");
  pid_t child = 0;
  while (children >> child) processes.push_back(child);
  bool ok = true;
  for (pid_t process : processes) {
    std::error_code ec;
    bool any = false;
    for (const auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(process) + "/task", ec)) {
      ok = apply(static_cast<pid_t>(std::stol(entry.path().filename().string()))) && ok;
      any = true;
    }
    ok = ok && any && !ec;
  }
  return ok;
}

}  // namespace

bool pin_process_tree(pid_t pid, const std::vector<int>& cpus) {
  const cpu_set_t set = cpu_set_of(cpus);
  return for_each_task(pid,
                       [&](pid_t tid) { return ::sched_setaffinity(tid, sizeof(set), &set) == 0; });
}

bool pin_this_thread(const std::vector<int>& cpus) {
  const cpu_set_t set = cpu_set_of(cpus);
  return ::sched_setaffinity(0, sizeof(set), &set) == 0;
}

bool set_nice_process_tree(pid_t pid, int nice) {
  return for_each_task(pid, [&](pid_t tid) {
    return ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) == 0;
  });
}

bool set_nice_this_thread(int nice) { return ::setpriority(PRIO_PROCESS, 0, nice) == 0; }

std::string describe_cpus(const std::vector<int>& cpus) {
  std::string out = "cpu ";
  for (size_t i = 0; i < cpus.size(); ++i) out += (i ? "," : "") + std::to_string(cpus[i]);
  return out;
}

}  // namespace sluice::bench
