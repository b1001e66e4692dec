// The Git side of the GitOps source: a bare mirror of the configured remote, fetched with
// libgit2, and read-only per-commit checkouts for the instances that need files.
//
// Layout under state_dir:   git/mirror.git            bare mirror (remote "origin")
//                           git/checkouts/<sha>/      exported tree, files chmod read-only
//                           git/checkouts/.blobs/     their regular files, hard-linked by blob id
//
// Thread ownership: a GitRepository is used by one thread at a time (the watcher's fetch thread,
// or the CLI). libgit2 objects are not shared across threads. Secrets (passwords, tokens, key
// passphrases) are read from files at fetch time and never logged or put in error messages.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/redact.h"
#include "base/status.h"

struct git_repository;

namespace sluice::gitops {

struct RepoAuth {
  // https: username + password/token file. A token alone uses the username "x-access-token"
  // (GitHub/Gitea) unless username is set.
  std::optional<std::string> username;
  std::optional<std::string> password_file;
  // ssh: private key (public key is derived by libssh2), optional passphrase file, and the
  // known_hosts file the server key must match (required for ssh://).
  std::optional<std::string> ssh_key_file;
  std::optional<std::string> ssh_passphrase_file;
  std::optional<std::string> known_hosts_file;
};

struct RepoConfig {
  std::string url;           // local path, file://, git://, https:// or ssh://
  std::string ref = "main";  // a branch, or a tag name
  std::string path;          // manifests root inside the repository ("" or "." = top)
  std::string state_dir;     // where git/mirror.git and git/checkouts live
  // Every fetch is bounded (gitops/deadline_stream.h): the TCP connect by connect_timeout, each
  // read or write (TLS handshake included) that makes no progress by io_timeout, and the whole
  // fetch by fetch_timeout. A remote that accepts and never answers is a fetch error.
  Duration fetch_timeout{60'000};
  Duration connect_timeout{10'000};
  Duration io_timeout{30'000};
  RepoAuth auth;
};

// The outcome of a push the remote answered. A refused update (the branch moved on the remote:
// non-fast-forward, or a server hook said no) is not an error of the transport: `accepted` is
// false and `message` says why, so the caller decides whether to fetch and try again.
struct PushResult {
  bool accepted = false;
  bool non_fast_forward = false;  // the remote branch is not an ancestor of what was pushed
  std::string message;            // the remote's or libgit2's reason when not accepted
};

struct FetchResult {
  std::string head;           // commit sha the followed ref points to after the fetch
  std::string previous_head;  // before the fetch ("" when the mirror was empty)
  bool forced = false;        // previous_head is not an ancestor of head (force-push/rewrite)
};

// URL with any user:password@ removed, safe to show in status and logs (base/redact.h).
using ::sluice::redact_url;

// Calls git_libgit2_init exactly once per process (thread-safe).
void ensure_libgit2();

class GitRepository {
 public:
  // Opens (or creates) the bare mirror under config.state_dir and points "origin" at config.url.
  static Result<std::unique_ptr<GitRepository>> open_mirror(const RepoConfig& config);
  // Opens an existing repository (bare or not) for offline reading, e.g. `sluice plan`, or a
  // second handle on a mirror (state_dir given) for checkouts from another thread.
  static Result<std::unique_ptr<GitRepository>> open_existing(const std::string& path,
                                                              const std::string& state_dir = "");
  static std::string mirror_path(const std::string& state_dir);

  ~GitRepository();
  GitRepository(const GitRepository&) = delete;
  GitRepository& operator=(const GitRepository&) = delete;

  // Fetches origin (blocking, at most config.fetch_timeout, see RepoConfig) and resolves the
  // followed ref. Fails with kNotFound when the branch/tag does not exist on the remote,
  // kDeadlineExceeded when a limit passed, and kUnavailable for other transport errors. The
  // mirror's refs are only updated by a successful fetch.
  Result<FetchResult> fetch();

  // Pushes the local ref `local_ref` to `remote_ref` on config.url (blocking, bounded like a fetch,
  // with the same credentials and host-key check). Never forced: the refspec has no '+', so a
  // remote branch that moved is refused (PushResult::non_fast_forward), never overwritten.
  // Transport failures are errors (kUnavailable, kDeadlineExceeded), with URLs redacted.
  Result<PushResult> push(const std::string& local_ref, const std::string& remote_ref);

  // The followed ref's commit in the mirror, without fetching (after a restart).
  Result<std::string> current_head() const;

  // rev-parse (HEAD, HEAD~1, a sha, a branch) to a commit sha.
  Result<std::string> resolve(const std::string& rev) const;

  // Materialises the commit's tree into state_dir/git/checkouts/<sha>/ (idempotent, atomic by
  // rename), files read-only. Regular files are hard links to state_dir/git/checkouts/.blobs/
  // <blob id>[.x] (.x: executable), shared by every checkout with the same bytes and mode.
  // Returns the directory. Only for mirrors opened with a state_dir.
  Result<std::string> checkout(const std::string& sha);

  git_repository* raw() const { return repo_; }
  const RepoConfig& config() const { return config_; }

 private:
  GitRepository(git_repository* repo, RepoConfig config);
  git_repository* repo_;
  RepoConfig config_;
};

// The last libgit2 error as text ("" when none).
std::string last_git_error();

}  // namespace sluice::gitops
