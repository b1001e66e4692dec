// Real signing keys and real signed commits for the signed-commit tests: SSH keys made by
// ssh-keygen, an OpenPGP key made by gpg in a temp GNUPGHOME (no passphrase), and commits signed
// by git itself (`git commit -S` with gpg.format=ssh or openpgp). All argv, no shell.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "git_fixture.h"

namespace gitops_test {

// Runs argv in cwd with `extra_env` ("NAME=value") added to this process's environment; returns
// the exit code (-1 when it could not run). stdout (and stderr, unless err is given) go to out.
inline int run_env(const std::vector<std::string>& argv, const fs::path& cwd,
                   const std::vector<std::string>& extra_env, std::string* out = nullptr,
                   std::string* err = nullptr) {
  static int calls = 0;
  const std::string base = (fs::temp_directory_path() / ("sluice-sign-run-" +
                                                         std::to_string(::getpid()) + "-" +
                                                         std::to_string(++calls)))
                               .string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, (base + ".out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, (base + ".err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& kv : env_strings) envp.push_back(kv.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  if (rc == 0) waitpid(pid, &status, 0);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  if (out) *out = slurp(base + ".out") + (err ? "" : slurp(base + ".err"));
  if (err) *err = slurp(base + ".err");
  std::error_code ec;
  fs::remove(base + ".out", ec);
  fs::remove(base + ".err", ec);
  if (rc != 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// An ed25519 key pair made by ssh-keygen without a passphrase.
struct SshKey {
  fs::path private_key;
  std::string public_key;   // "ssh-ed25519 AAAA... comment"
  std::string fingerprint;  // "SHA256:..."

  SshKey(const fs::path& dir, const std::string& name) : private_key(dir / name) {
    fs::create_directories(dir);
    if (run_env({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                 private_key.string()},
                dir, {}) != 0) {
      throw std::runtime_error("ssh-keygen could not make a key");
    }
    std::ifstream in(private_key.string() + ".pub");
    std::getline(in, public_key);
    std::string listed;
    run_env({"ssh-keygen", "-l", "-f", private_key.string() + ".pub"}, dir, {}, &listed);
    // "256 SHA256:xxxx name (ED25519)"
    const size_t at = listed.find("SHA256:");
    fingerprint = listed.substr(at, listed.find(' ', at) - at);
  }
};

// An allowed signers file (git's gpg.ssh.allowedSignersFile) trusting `key` as `principal`.
inline void write_allowed_signers(const fs::path& file,
                                  const std::vector<std::pair<std::string, const SshKey*>>& keys) {
  std::ofstream out(file);
  for (const auto& [principal, key] : keys) {
    out << principal << " namespaces=\"git\" " << key->public_key << "\n";
  }
}

// A GNUPGHOME in `dir` holding one ed25519 signing key for `uid`, without a passphrase. Its
// gpg-agent is stopped on destruction.
struct GpgHome {
  fs::path home;
  std::string uid;
  std::string fingerprint;

  GpgHome(const fs::path& dir, std::string user_id) : home(dir), uid(std::move(user_id)) {
    fs::create_directories(home);
    fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace);
    if (gpg({"--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign",
             "never"}) != 0) {
      throw std::runtime_error("gpg could not make a key");
    }
    std::string listed;
    gpg({"--batch", "--with-colons", "--list-keys", uid}, &listed);
    // The first "fpr:::::::::FINGERPRINT:" line is the primary key's.
    const size_t at = listed.find("\nfpr:");
    const size_t start = listed.find_first_not_of(':', at + 5);
    fingerprint = listed.substr(start, listed.find(':', start) - start);
  }
  ~GpgHome() {
    run_env({"gpgconf", "--homedir", home.string(), "--kill", "all"}, home, {});
  }
  GpgHome(const GpgHome&) = delete;
  GpgHome& operator=(const GpgHome&) = delete;

  std::string env() const { return "GNUPGHOME=" + home.string(); }
  int gpg(std::vector<std::string> args, std::string* out = nullptr) const {
    args.insert(args.begin(), "gpg");
    return run_env(args, home, {env()}, out);
  }
  // The public key as a binary keyring for gpgv (`gpg --export`, not armored).
  void export_keyring(const fs::path& file) const {
    gpg({"--batch", "--output", file.string(), "--export", fingerprint});
  }
};

// git with the environment it needs to sign.
inline int git_env(const WorkRepo& repo, std::vector<std::string> args,
                   const std::vector<std::string>& env = {}, std::string* out = nullptr) {
  args.insert(args.begin(), "git");
  return run_env(args, repo.dir, env, out);
}

// Commits everything, signed by git itself with the SSH key (gpg.format=ssh).
inline std::string commit_ssh_signed(const WorkRepo& repo, const SshKey& key,
                                     const std::string& message) {
  repo.git({"add", "-A"});
  std::string out;
  if (git_env(repo, {"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key.private_key.string(),
                     "commit", "-q", "-S", "--allow-empty", "-m", message},
              {}, &out) != 0) {
    throw std::runtime_error("git commit -S (ssh) failed: " + out);
  }
  return repo.head();
}

// Commits everything, signed by git itself with the OpenPGP key (gpg.format=openpgp).
inline std::string commit_gpg_signed(const WorkRepo& repo, const GpgHome& gpg,
                                     const std::string& message) {
  repo.git({"add", "-A"});
  std::string out;
  if (git_env(repo, {"-c", "gpg.format=openpgp", "-c", "user.signingkey=" + gpg.fingerprint,
                     "commit", "-q", "-S", "--allow-empty", "-m", message},
              {gpg.env()}, &out) != 0) {
    throw std::runtime_error("git commit -S (openpgp) failed: " + out);
  }
  return repo.head();
}

// An attacker's commit: HEAD's commit object, signature and all, with its tree replaced by the
// tree of the work dir as it is now; main points at it. Returns the new sha.
inline std::string tamper_head_tree(const WorkRepo& repo) {
  repo.git({"add", "-A"});
  std::string tree;
  repo.git({"write-tree"}, &tree);
  tree = trimmed(tree);
  std::string object;
  git_env(repo, {"cat-file", "commit", "HEAD"}, {}, &object);
  const size_t eol = object.find('\n');
  object = "tree " + tree + object.substr(eol);
  const fs::path file = repo.dir / ".." / "tampered-commit";
  std::ofstream(file, std::ios::binary) << object;
  std::string sha;
  git_env(repo, {"hash-object", "-t", "commit", "-w", file.string()}, {}, &sha);
  sha = trimmed(sha);
  repo.git({"update-ref", "refs/heads/main", sha});
  repo.git({"reset", "-q", "--hard", sha});
  return sha;
}

}  // namespace gitops_test
