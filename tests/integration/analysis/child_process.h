// A child process for tests (posix_spawn, no shell), stopped and reaped on destruction.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sluice::testing {

class ChildProcess {
 public:
  // env_overrides: "NAME=value" entries added to (and overriding) this process's environment.
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env_overrides,
               const std::string& log_path) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string entry(*e);
      bool overridden = false;
      for (const auto& o : env_overrides) {
        if (entry.substr(0, entry.find('=')) == o.substr(0, o.find('='))) overridden = true;
      }
      if (!overridden) env.push_back(entry);
    }
    for (const auto& o : env_overrides) env.push_back(o);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    ok_ = posix_spawnp(&pid_, cargv[0], &fa, nullptr, cargv.data(), cenv.data()) == 0;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~ChildProcess() { stop(); }
  bool ok() const { return ok_; }

  // SIGTERM, then SIGKILL after grace.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000)) {
    if (!ok_ || pid_ <= 0) return;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  // Waits for exit (bounded); returns the exit code or -1.
  int wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool ok_ = false;
};

}  // namespace sluice::testing
