// Real git repositories for the gitops integration tests, built with the `git` CLI (argv, no
// shell) in temp dirs that are removed at the end of each test.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

extern char** environ;

namespace gitops_test {
namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() /
           ("sluice-gitops-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    // Checkouts are read-only files in writable dirs: remove_all works.
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// Runs argv in cwd; returns the exit code. stdout+stderr go to out when given.
inline int run(const std::vector<std::string>& argv, const fs::path& cwd,
               std::string* out = nullptr) {
  fs::path log =
      fs::temp_directory_path() / ("sluice-gitops-run-" + std::to_string(::getpid()) + ".log");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  if (out) {
    std::ifstream in(log);
    out->assign(std::istreambuf_iterator<char>(in), {});
  }
  std::error_code ec;
  fs::remove(log, ec);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A non-bare work repository on branch main with a fixed identity.
struct WorkRepo {
  fs::path dir;
  explicit WorkRepo(fs::path d) : dir(std::move(d)) {
    fs::create_directories(dir);
    git({"init", "-q", "-b", "main"});
    git({"config", "user.name", "Ada Author"});
    git({"config", "user.email", "ada@example.com"});
    git({"config", "commit.gpgsign", "false"});
  }
  int git(std::vector<std::string> args, std::string* out = nullptr) const {
    args.insert(args.begin(), "git");
    return run(args, dir, out);
  }
  void write(const std::string& rel, const std::string& content) const {
    fs::path p = dir / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  }
  void remove(const std::string& rel) const { fs::remove(dir / rel); }
  // Commits everything; returns the new sha.
  std::string commit(const std::string& message) const {
    git({"add", "-A"});
    git({"commit", "-q", "--allow-empty", "-m", message});
    return head();
  }
  std::string head() const { return rev_parse("HEAD"); }
  std::string rev_parse(const std::string& rev) const {
    std::string out;
    git({"rev-parse", rev}, &out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
};

inline std::string rollout_yaml(const std::string& name, int replicas, const std::string& version,
                                const std::string& extra_spec = "") {
  return "apiVersion: sluice.dev/v1alpha1\n"
         "kind: Rollout\n"
         "metadata:\n"
         "  name: " +
         name +
         "\n"
         "spec:\n"
         "  replicas: " +
         std::to_string(replicas) + "\n" + extra_spec +
         "  strategy:\n"
         "    rollingUpdate: {maxSurge: 1}\n"
         "  template:\n"
         "    version: \"" +
         version +
         "\"\n"
         "    command: [\"./bin/app\", \"--port\", \"$(PORT)\"]\n"
         "    ports:\n"
         "      - {name: http, containerPort: 0}\n";
}

}  // namespace gitops_test
