// The `sluice serve --config FILE` YAML (contract: shared/reference/api.md, "Config file"),
// and the resolved serve options where command-line flags override the file.
//
// Parsing is strict: an unknown key is an error naming the key and its file:line, a wrong type
// is an error naming the key. Pure functions, no logging; secrets in token files are only read
// by resolve_serve_options() and never copied into messages.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "notify/target.h"

namespace sluice::api {

struct TokenConfig {
  std::string name;
  std::string role;        // viewer | deployer | admin (validated)
  std::string token_file;  // one of token_file / token
  std::string token;
};

// repo.verify: apply only commits signed by a trusted key (docs/notifications.md, "Signed
// commits"). Checked when the file is loaded: the trust file must be readable (and a keyring a
// binary one) and the tool installed, else an error naming the config file and line.
struct RepoVerifyConfig {
  std::string mode;                  // "" (off) | ssh | gpg
  std::string allowed_signers_file;  // mode ssh; absolute
  std::string keyring;               // mode gpg; absolute
};

// How Sluice reaches its repository (repo: {username, passwordFile, sshKeyFile,
// sshPassphraseFile, knownHostsFile}): used to fetch, and to push the Git write-back. Secrets are
// files read at fetch/push time, never logged.
struct RepoCredentials {
  std::optional<std::string> username;
  std::optional<std::string> password_file;  // https: a token (or password)
  std::optional<std::string> ssh_key_file;
  std::optional<std::string> ssh_passphrase_file;
  std::optional<std::string> known_hosts_file;  // ssh: required; the host key must match
};

// gitWriteBack: {onAbort: revert | none, author: "Name <email>", signingKeyFile, maxAttempts}
// (docs/notifications.md, "Git write-back").
struct GitWriteBackConfig {
  std::string on_abort = "none";  // the default for Rollouts without spec.gitWriteBack
  std::string author;             // required: "Name <email>"
  std::optional<std::string> signing_key_file;
  int max_attempts = 4;  // pushes per write-back (the branch moved: fetch, rebuild, retry)
  std::string where;     // "file:line" of the section, for errors found when resolving
};

// What the file says; every field is optional so that flags can override field by field.
struct ServeConfig {
  RepoCredentials repo_credentials;
  std::optional<GitWriteBackConfig> git_write_back;
  std::optional<std::string> repo_url;
  std::optional<std::string> repo_branch;
  std::optional<std::string> repo_path;
  std::optional<Duration> repo_poll;
  std::optional<std::string> state_dir;
  std::optional<std::string> listen;
  std::optional<std::vector<std::string>> allowed_hosts;  // api.allowedHosts
  std::vector<TokenConfig> tokens;
  std::optional<std::string> github_secret_file;
  std::optional<std::string> gitlab_token_file;
  std::optional<std::string> prometheus_address;
  std::optional<std::string> log_format;  // json | text
  std::optional<std::string> log_level;   // trace | debug | info | warn | error
  std::optional<int> max_replicas;        // runtime.maxReplicas
  RepoVerifyConfig repo_verify;           // repo.verify (mode "" when absent)
  std::optional<std::string> external_url;  // api.externalUrl: base of dashboard links
  std::vector<notify::TargetConfig> notifications;
};

// runtime.maxReplicas / --max-replicas may raise the local runtime's replica limit this far: each
// replica is a process and its ports on one machine.
inline constexpr int kMaxReplicasCeiling = 10'000;

// `origin` is the file name used in messages ("sluice.yaml:4: unknown key 'foo' in repo").
Result<ServeConfig> parse_serve_config(std::string_view yaml_text, std::string_view origin);
Result<ServeConfig> load_serve_config(const std::string& path);

// The flags of `sluice serve`; unset flags leave the file's value (or the default) in place.
struct ServeFlags {
  std::optional<std::string> repo, branch, path, state_dir, listen;
  std::optional<std::vector<std::string>> allowed_hosts;  // --allowed-host (repeatable)
  std::optional<Duration> poll;
  std::optional<std::string> config_file, auth_file, webhook_secret_file, gitlab_token_file;
  std::optional<std::string> prometheus_address;
  std::optional<std::string> log_format, log_level;
  std::optional<int> max_replicas;  // --max-replicas
};

// Everything `serve` needs, after flags override the file and defaults fill the rest.
struct ServeOptions {
  std::string repo;  // required: local path, file://, https:// or ssh://
  std::string branch = "main";
  std::string path;                   // directory inside the repo ("" = root)
  std::string state_dir = ".sluice";  // journal and snapshots; absolute once resolved
  std::string listen = "127.0.0.1:7070";
  // Host names the API answers besides the listen address (api/request_guard.h).
  std::vector<std::string> allowed_hosts;
  Duration poll = Duration(15'000);
  std::vector<TokenConfig> tokens;  // from the file
  std::optional<std::string> auth_file;
  std::optional<std::string> github_secret_file;
  std::optional<std::string> gitlab_token_file;
  std::string prometheus_address;  // default for prometheus providers ("" = none)
  std::string log_format;          // json | text | "" (auto: text on a TTY, else json)
  std::string log_level = "info";
  // The most replicas a Rollout may ask of the local runtime (manifests::LoadLimits).
  int max_replicas = 256;
  RepoVerifyConfig repo_verify;  // from the file only (no flag)
  // The dashboard's base URL in notifications (api.externalUrl, as Argo CD's `url`); defaults
  // to http://<listen>.
  std::string external_url;
  std::vector<notify::TargetConfig> notifications;  // secrets not read yet (notify::Notifier)
  RepoCredentials repo_credentials;  // from the file only
  // Absent: no write-back; a Rollout asking for onAbort: revert is refused (at its field).
  std::optional<GitWriteBackConfig> git_write_back;
  // Non-empty: why this server cannot push (no gitWriteBack section, or a repository it only
  // reads); Rollouts asking for revert are refused with it (manifests::LoadLimits).
  std::string git_write_back_refused;
};

// Loads flags.config_file when set, then applies the flags. Errors: unreadable or invalid
// config, missing repo, bad log format/level.
Result<ServeOptions> resolve_serve_options(const ServeFlags& flags);

}  // namespace sluice::api
