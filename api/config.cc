#include "api/config.h"

#include <algorithm>
#include <cctype>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "api/request_guard.h"
#include "base/duration.h"
#include "gitops/commit_verify.h"
#include "notify/triggers.h"
#include "gitops/write_back.h"

namespace sluice::api {
namespace {

class ConfigParser {
 public:
  explicit ConfigParser(std::string_view origin) : origin_(origin) {}

  Status error_at(const YAML::Node& node, const std::string& message) const {
    std::string where = origin_;
    if (node.IsDefined() && node.Mark().line >= 0)
      where += ":" + std::to_string(node.Mark().line + 1);
    return invalid_argument(where + ": " + message);
  }

  // Rejects any key of `map` not in `allowed`, naming the key and its line.
  Status check_keys(const YAML::Node& map, const std::set<std::string>& allowed,
                    const std::string& section) const {
    if (!map.IsMap()) return error_at(map, "'" + section + "' must be a mapping");
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string key = it->first.Scalar();
      if (!allowed.count(key)) {
        std::string known;
        for (const auto& k : allowed) known += (known.empty() ? "" : ", ") + k;
        return error_at(it->first, "unknown key '" + key + "'" +
                                       (section.empty() ? "" : " in '" + section + "'") +
                                       " (known: " + known + ")");
      }
    }
    return Status::ok();
  }

  Status scalar(const YAML::Node& node, const std::string& key, std::optional<std::string>& out) {
    if (!node) return Status::ok();
    if (!node.IsScalar()) return error_at(node, "'" + key + "' must be a string");
    out = node.Scalar();
    return Status::ok();
  }

  // repo.verify: {mode: ssh, allowedSignersFile: F} or {mode: gpg, keyring: F}.
  Status parse_repo_verify(const YAML::Node& node, RepoVerifyConfig& out) {
    if (!node) return Status::ok();
    Status st = check_keys(node, {"mode", "allowedSignersFile", "keyring"}, "repo.verify");
    if (!st.is_ok()) return st;
    std::optional<std::string> mode, signers, keyring;
    if (st = scalar(node["mode"], "repo.verify.mode", mode); !st.is_ok()) return st;
    if (st = scalar(node["allowedSignersFile"], "repo.verify.allowedSignersFile", signers);
        !st.is_ok())
      return st;
    if (st = scalar(node["keyring"], "repo.verify.keyring", keyring); !st.is_ok()) return st;
    if (!mode) return error_at(node, "'repo.verify.mode' is required (ssh or gpg)");
    gitops::VerifyConfig check;
    YAML::Node file_node;
    if (*mode == "ssh") {
      if (!signers) return error_at(node, "repo.verify: mode ssh needs 'allowedSignersFile'");
      if (keyring)
        return error_at(node["keyring"], "'repo.verify.keyring' is for mode gpg; mode ssh "
                                         "uses 'allowedSignersFile'");
      check.mode = gitops::VerifyMode::kSsh;
      check.allowed_signers_file = absolute_path(*signers);
      file_node = node["allowedSignersFile"];
    } else if (*mode == "gpg") {
      if (!keyring) return error_at(node, "repo.verify: mode gpg needs 'keyring'");
      if (signers)
        return error_at(node["allowedSignersFile"],
                        "'repo.verify.allowedSignersFile' is for mode ssh; mode gpg uses "
                        "'keyring'");
      check.mode = gitops::VerifyMode::kGpg;
      check.keyring = absolute_path(*keyring);
      file_node = node["keyring"];
    } else {
      return error_at(node["mode"], "'repo.verify.mode' must be 'ssh' or 'gpg', not '" + *mode +
                                        "'");
    }
    // The trust file and the tool are checked now, at startup, not at the first signed commit.
    if (st = gitops::check_verify_config(check); !st.is_ok())
      return error_at(file_node, st.message());
    out.mode = *mode;
    out.allowed_signers_file = check.allowed_signers_file;
    out.keyring = check.keyring;
    return Status::ok();
  }

  static std::string absolute_path(const std::string& path) {
    std::error_code ec;
    auto absolute = std::filesystem::absolute(path, ec);
    return ec ? path : absolute.lexically_normal().string();
  }

  Status parse_credentials(const YAML::Node& repo, RepoCredentials& c) {
    Status st = scalar(repo["username"], "repo.username", c.username);
    if (st.is_ok()) st = scalar(repo["passwordFile"], "repo.passwordFile", c.password_file);
    if (st.is_ok()) st = scalar(repo["sshKeyFile"], "repo.sshKeyFile", c.ssh_key_file);
    if (st.is_ok())
      st = scalar(repo["sshPassphraseFile"], "repo.sshPassphraseFile", c.ssh_passphrase_file);
    if (st.is_ok())
      st = scalar(repo["knownHostsFile"], "repo.knownHostsFile", c.known_hosts_file);
    return st;
  }

  Status parse_git_write_back(const YAML::Node& wb, ServeConfig& cfg) {
    Status st =
        check_keys(wb, {"onAbort", "author", "signingKeyFile", "maxAttempts"}, "gitWriteBack");
    if (!st.is_ok()) return st;
    GitWriteBackConfig g;
    g.where = origin_ + ":" + std::to_string(wb.Mark().line + 1);
    std::optional<std::string> on_abort, author;
    if (st = scalar(wb["onAbort"], "gitWriteBack.onAbort", on_abort); !st.is_ok()) return st;
    if (on_abort) {
      if (*on_abort != "revert" && *on_abort != "none")
        return error_at(wb["onAbort"], "gitWriteBack.onAbort must be 'revert' or 'none'");
      g.on_abort = *on_abort;
    }
    if (st = scalar(wb["author"], "gitWriteBack.author", author); !st.is_ok()) return st;
    if (!author)
      return error_at(wb, "gitWriteBack.author is required (\"Name <email>\": the revert's "
                          "author and committer)");
    if (auto parsed = gitops::parse_author(*author); !parsed.is_ok())
      return error_at(wb["author"], "gitWriteBack." + parsed.status().message());
    g.author = *author;
    if (st = scalar(wb["signingKeyFile"], "gitWriteBack.signingKeyFile", g.signing_key_file);
        !st.is_ok())
      return st;
    if (auto attempts = wb["maxAttempts"]) {
      int value = 0;
      if (!attempts.IsScalar() || !YAML::convert<int>::decode(attempts, value) || value < 1 ||
          value > 20)
        return error_at(attempts, "'gitWriteBack.maxAttempts' must be a whole number from 1 to 20");
      g.max_attempts = value;
    }
    cfg.git_write_back = g;
    return Status::ok();
  }

  Status parse(const YAML::Node& root, ServeConfig& cfg) {
    if (root.IsNull()) return Status::ok();
    Status st = check_keys(
        root,
        {"repo", "stateDir", "listen", "api", "auth", "webhooks", "prometheus", "log", "runtime",
         "notifications", "gitWriteBack"},
        "");
    if (!st.is_ok()) return st;
    if (auto repo = root["repo"]) {
      if (repo.IsScalar()) {
        cfg.repo_url = repo.Scalar();  // shorthand: repo: /srv/deploy-repo
      } else {
        if (st = check_keys(repo,
                            {"url", "branch", "path", "poll", "verify", "username",
                             "passwordFile", "sshKeyFile", "sshPassphraseFile", "knownHostsFile"},
                            "repo");
            !st.is_ok())
          return st;
        if (st = parse_repo_verify(repo["verify"], cfg.repo_verify); !st.is_ok()) return st;
        if (st = parse_credentials(repo, cfg.repo_credentials); !st.is_ok()) return st;
        if (st = scalar(repo["url"], "repo.url", cfg.repo_url); !st.is_ok()) return st;
        if (st = scalar(repo["branch"], "repo.branch", cfg.repo_branch); !st.is_ok()) return st;
        if (st = scalar(repo["path"], "repo.path", cfg.repo_path); !st.is_ok()) return st;
        std::optional<std::string> poll;
        if (st = scalar(repo["poll"], "repo.poll", poll); !st.is_ok()) return st;
        if (poll) {
          auto d = parse_duration(*poll);
          if (!d.is_ok()) return error_at(repo["poll"], "repo.poll: " + d.status().message());
          cfg.repo_poll = *d;
        }
      }
    }
    if (st = scalar(root["stateDir"], "stateDir", cfg.state_dir); !st.is_ok()) return st;
    if (st = scalar(root["listen"], "listen", cfg.listen); !st.is_ok()) return st;
    if (auto api = root["api"]) {
      if (st = check_keys(api, {"allowedHosts", "externalUrl"}, "api"); !st.is_ok()) return st;
      if (st = scalar(api["externalUrl"], "api.externalUrl", cfg.external_url); !st.is_ok())
        return st;
      if (cfg.external_url && cfg.external_url->rfind("http://", 0) != 0 &&
          cfg.external_url->rfind("https://", 0) != 0)
        return error_at(api["externalUrl"], "api.externalUrl must start with http:// or https://");
      if (auto hosts = api["allowedHosts"]) {
        if (!hosts.IsSequence()) return error_at(hosts, "'api.allowedHosts' must be a list");
        cfg.allowed_hosts.emplace();
        for (const auto& h : hosts) {
          if (!h.IsScalar()) return error_at(h, "api.allowedHosts[] must be a string");
          if (Status bad = check_allowed_host(h.Scalar()); !bad.is_ok())
            return error_at(h, "api.allowedHosts: " + bad.message());
          cfg.allowed_hosts->push_back(h.Scalar());
        }
      }
    }
    if (auto auth = root["auth"]) {
      if (st = check_keys(auth, {"tokens"}, "auth"); !st.is_ok()) return st;
      if (auto tokens = auth["tokens"]) {
        if (!tokens.IsSequence()) return error_at(tokens, "'auth.tokens' must be a list");
        for (const auto& t : tokens) {
          if (st = check_keys(t, {"name", "role", "tokenFile", "token"}, "auth.tokens[]");
              !st.is_ok())
            return st;
          std::optional<std::string> name, role, file, token;
          if (st = scalar(t["name"], "name", name); !st.is_ok()) return st;
          if (st = scalar(t["role"], "role", role); !st.is_ok()) return st;
          if (st = scalar(t["tokenFile"], "tokenFile", file); !st.is_ok()) return st;
          if (st = scalar(t["token"], "token", token); !st.is_ok()) return st;
          if (!role) return error_at(t, "auth.tokens[]: 'role' is required");
          if (*role != "viewer" && *role != "deployer" && *role != "admin")
            return error_at(t["role"], "auth.tokens[]: unknown role '" + *role +
                                           "' (viewer, deployer or admin)");
          if (file.has_value() == token.has_value())
            return error_at(t, "auth.tokens[]: exactly one of 'tokenFile' or 'token' is required");
          cfg.tokens.push_back(
              TokenConfig{name.value_or(""), *role, file.value_or(""), token.value_or("")});
        }
      }
    }
    if (auto hooks = root["webhooks"]) {
      if (st = check_keys(hooks, {"github", "gitlab"}, "webhooks"); !st.is_ok()) return st;
      if (auto gh = hooks["github"]) {
        if (st = check_keys(gh, {"secretFile"}, "webhooks.github"); !st.is_ok()) return st;
        if (st = scalar(gh["secretFile"], "webhooks.github.secretFile", cfg.github_secret_file);
            !st.is_ok())
          return st;
      }
      if (auto gl = hooks["gitlab"]) {
        if (st = check_keys(gl, {"tokenFile"}, "webhooks.gitlab"); !st.is_ok()) return st;
        if (st = scalar(gl["tokenFile"], "webhooks.gitlab.tokenFile", cfg.gitlab_token_file);
            !st.is_ok())
          return st;
      }
    }
    if (auto prom = root["prometheus"]) {
      if (st = check_keys(prom, {"address"}, "prometheus"); !st.is_ok()) return st;
      if (st = scalar(prom["address"], "prometheus.address", cfg.prometheus_address); !st.is_ok())
        return st;
    }
    if (auto runtime = root["runtime"]) {
      if (st = check_keys(runtime, {"maxReplicas"}, "runtime"); !st.is_ok()) return st;
      if (auto max = runtime["maxReplicas"]) {
        int value = 0;
        if (!max.IsScalar() || !YAML::convert<int>::decode(max, value) || value < 1 ||
            value > kMaxReplicasCeiling) {
          return error_at(max, "'runtime.maxReplicas' must be a whole number from 1 to " +
                                   std::to_string(kMaxReplicasCeiling));
        }
        cfg.max_replicas = value;
      }
    }
    if (auto list = root["notifications"]) {
      if (st = parse_notifications(list, cfg.notifications); !st.is_ok()) return st;
    }
    if (auto wb = root["gitWriteBack"]) {
      if (st = parse_git_write_back(wb, cfg); !st.is_ok()) return st;
    }
    if (auto log = root["log"]) {
      if (st = check_keys(log, {"format", "level"}, "log"); !st.is_ok()) return st;
      if (st = scalar(log["format"], "log.format", cfg.log_format); !st.is_ok()) return st;
      if (st = scalar(log["level"], "log.level", cfg.log_level); !st.is_ok()) return st;
      if (cfg.log_format && *cfg.log_format != "json" && *cfg.log_format != "text")
        return error_at(log["format"], "log.format must be 'json' or 'text'");
    }
    return Status::ok();
  }

  // notifications: [{name, slack: {webhookUrlFile} | webhook: {url, headers, secretFile},
  //                  caFile, triggers, rollouts}]
  Status parse_notifications(const YAML::Node& list, std::vector<notify::TargetConfig>& out) {
    if (!list.IsSequence()) return error_at(list, "'notifications' must be a list");
    std::set<std::string> names;
    for (const auto& item : list) {
      Status st = check_keys(item, {"name", "slack", "webhook", "caFile", "triggers", "rollouts"},
                             "notifications[]");
      if (!st.is_ok()) return st;
      notify::TargetConfig t;
      t.where = origin_ + ":" + std::to_string(item.Mark().line + 1);
      std::optional<std::string> name, ca_file;
      if (st = scalar(item["name"], "notifications[].name", name); !st.is_ok()) return st;
      if (!name || name->empty()) return error_at(item, "notifications[]: 'name' is required");
      for (char c : *name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
          return error_at(item["name"], "notifications[].name '" + *name +
                                            "' may hold only letters, digits, '-', '_' and '.'");
      }
      if (!names.insert(*name).second)
        return error_at(item["name"], "notifications[].name '" + *name + "' is used twice");
      t.name = *name;
      const std::string at = "notifications[" + t.name + "]";
      if (item["slack"].IsDefined() == item["webhook"].IsDefined())
        return error_at(item, at + ": exactly one of 'slack' or 'webhook' is required");
      if (auto slack = item["slack"]) {
        t.kind = notify::TargetKind::kSlack;
        if (st = check_keys(slack, {"webhookUrlFile"}, at + ".slack"); !st.is_ok()) return st;
        std::optional<std::string> file;
        if (st = scalar(slack["webhookUrlFile"], at + ".slack.webhookUrlFile", file); !st.is_ok())
          return st;
        if (!file || file->empty())
          return error_at(slack, at + ".slack: 'webhookUrlFile' is required (the URL is the "
                                      "credential, so it is read from a file)");
        t.webhook_url_file = *file;
      } else {
        const YAML::Node hook = item["webhook"];
        t.kind = notify::TargetKind::kWebhook;
        if (st = check_keys(hook, {"url", "headers", "secretFile"}, at + ".webhook"); !st.is_ok())
          return st;
        std::optional<std::string> url, secret;
        if (st = scalar(hook["url"], at + ".webhook.url", url); !st.is_ok()) return st;
        if (!url || url->empty()) return error_at(hook, at + ".webhook: 'url' is required");
        // The URL may carry a token: the message says what is wrong, not what it is.
        if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0)
          return error_at(hook["url"], at + ".webhook.url must start with http:// or https://");
        t.url = *url;
        if (st = scalar(hook["secretFile"], at + ".webhook.secretFile", secret); !st.is_ok())
          return st;
        t.secret_file = secret.value_or("");
        if (auto headers = hook["headers"]) {
          if (!headers.IsSequence()) return error_at(headers, at + ".webhook.headers must be a list");
          for (const auto& h : headers) {
            if (st = check_keys(h, {"name", "value"}, at + ".webhook.headers[]"); !st.is_ok())
              return st;
            std::optional<std::string> hn, hv;
            if (st = scalar(h["name"], at + ".webhook.headers[].name", hn); !st.is_ok()) return st;
            if (st = scalar(h["value"], at + ".webhook.headers[].value", hv); !st.is_ok()) return st;
            if (!hn || hn->empty() || !hv)
              return error_at(h, at + ".webhook.headers[]: 'name' and 'value' are required");
            for (char c : *hn + *hv) {
              if (c == '\r' || c == '\n' || c == '\0')
                return error_at(h, at + ".webhook.headers[]: no line breaks in a header");
            }
            t.headers.emplace_back(*hn, *hv);
          }
        }
      }
      if (st = scalar(item["caFile"], at + ".caFile", ca_file); !st.is_ok()) return st;
      t.ca_file = ca_file.value_or("");
      const YAML::Node triggers = item["triggers"];
      if (!triggers || !triggers.IsSequence() || triggers.size() == 0) {
        return error_at(triggers ? triggers : item,
                        at + ": 'triggers' must list at least one of on-rollout-updated, "
                             "on-rollout-step-completed, on-rollout-paused, on-rollout-completed, "
                             "on-rollout-aborted, on-analysis-run-running, on-analysis-run-failed, "
                             "on-analysis-run-error, on-scaling-replica-set");
      }
      for (const auto& trigger : triggers) {
        if (!trigger.IsScalar()) return error_at(trigger, at + ".triggers[] must be a string");
        const std::string value = trigger.Scalar();
        if (!notify::is_trigger(value)) {
          const std::string hint = notify::closest_trigger(value);
          return error_at(trigger, at + ".triggers: unknown trigger '" + value + "'" +
                                       (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
        }
        if (std::find(t.triggers.begin(), t.triggers.end(), value) == t.triggers.end())
          t.triggers.push_back(value);
      }
      if (auto rollouts = item["rollouts"]) {
        if (!rollouts.IsSequence()) return error_at(rollouts, at + ".rollouts must be a list");
        for (const auto& r : rollouts) {
          if (!r.IsScalar() || r.Scalar().empty())
            return error_at(r, at + ".rollouts[] must be a rollout name");
          t.rollouts.push_back(r.Scalar());
        }
      }
      out.push_back(std::move(t));
    }
    return Status::ok();
  }

 private:
  std::string origin_;
};

Status check_log_level(const std::string& level) {
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!kLevels.count(level))
    return invalid_argument("unknown log level '" + level + "' (trace, debug, info, warn, error)");
  return Status::ok();
}

bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

// Config-time checks of the write-back: its files exist, and the repository is one Sluice can
// push to; otherwise a server default of revert is an error here, and Rollouts asking for revert
// are refused at their field (ServeOptions::git_write_back_refused).
Status resolve_git_write_back(ServeOptions& o) {
  if (!o.git_write_back) {
    o.git_write_back_refused = "this server has no gitWriteBack section (its author) in --config";
    return Status::ok();
  }
  const GitWriteBackConfig& g = *o.git_write_back;
  if (g.signing_key_file && !readable(*g.signing_key_file))
    return invalid_argument(g.where + ": gitWriteBack.signingKeyFile " + *g.signing_key_file +
                            " cannot be read");
  gitops::RepoConfig rc;
  rc.url = o.repo;
  rc.auth.password_file = o.repo_credentials.password_file;
  rc.auth.ssh_key_file = o.repo_credentials.ssh_key_file;
  o.git_write_back_refused = gitops::read_only_reason(rc);
  if (!o.git_write_back_refused.empty() && g.on_abort == "revert")
    return invalid_argument(g.where + ": gitWriteBack.onAbort is revert, but Sluice only reads " +
                            "its repository: " + o.git_write_back_refused);
  return Status::ok();
}

}  // namespace

Result<ServeConfig> parse_serve_config(std::string_view yaml_text, std::string_view origin) {
  ServeConfig cfg;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    ConfigParser parser(origin);
    Status st = parser.parse(root, cfg);
    if (!st.is_ok()) return st;
  } catch (const YAML::Exception& e) {
    return invalid_argument(std::string(origin) + ":" + std::to_string(e.mark.line + 1) + ": " +
                            e.msg);
  }
  return cfg;
}

Result<ServeConfig> load_serve_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_serve_config(ss.str(), path);
}

Result<ServeOptions> resolve_serve_options(const ServeFlags& flags) {
  ServeConfig file;
  if (flags.config_file) {
    auto loaded = load_serve_config(*flags.config_file);
    if (!loaded.is_ok()) return loaded.status();
    file = std::move(loaded).value();
  }
  ServeOptions o;
  auto pick = [](const std::optional<std::string>& flag, const std::optional<std::string>& cfg,
                 std::string& out) {
    if (flag)
      out = *flag;
    else if (cfg)
      out = *cfg;
  };
  pick(flags.repo, file.repo_url, o.repo);
  pick(flags.branch, file.repo_branch, o.branch);
  pick(flags.path, file.repo_path, o.path);
  pick(flags.state_dir, file.state_dir, o.state_dir);
  pick(flags.listen, file.listen, o.listen);
  pick(flags.prometheus_address, file.prometheus_address, o.prometheus_address);
  pick(flags.log_format, file.log_format, o.log_format);
  pick(flags.log_level, file.log_level, o.log_level);
  if (flags.poll)
    o.poll = *flags.poll;
  else if (file.repo_poll)
    o.poll = *file.repo_poll;
  if (flags.max_replicas) {
    if (*flags.max_replicas < 1 || *flags.max_replicas > kMaxReplicasCeiling)
      return invalid_argument("--max-replicas must be from 1 to " +
                              std::to_string(kMaxReplicasCeiling));
    o.max_replicas = *flags.max_replicas;
  } else if (file.max_replicas) {
    o.max_replicas = *file.max_replicas;
  }
  if (flags.allowed_hosts)
    o.allowed_hosts = *flags.allowed_hosts;
  else if (file.allowed_hosts)
    o.allowed_hosts = *file.allowed_hosts;
  for (const auto& h : o.allowed_hosts) {
    if (Status st = check_allowed_host(h); !st.is_ok())
      return invalid_argument("--allowed-host: " + st.message());
  }
  // Made absolute here, once: paths under it are handed to instances (SLUICE_ROLE_FILE) and to
  // the router process, whose working directories are not necessarily serve's.
  {
    std::error_code ec;
    auto absolute = std::filesystem::absolute(o.state_dir, ec);
    if (!ec) o.state_dir = absolute.lexically_normal().string();
    if (o.state_dir.size() > 1 && o.state_dir.back() == '/') o.state_dir.pop_back();
  }
  o.tokens = file.tokens;
  o.repo_verify = file.repo_verify;
  o.notifications = file.notifications;
  o.external_url = file.external_url.value_or("http://" + o.listen);
  while (o.external_url.size() > 1 && o.external_url.back() == '/') o.external_url.pop_back();
  o.auth_file = flags.auth_file;
  o.github_secret_file =
      flags.webhook_secret_file ? flags.webhook_secret_file : file.github_secret_file;
  o.gitlab_token_file = flags.gitlab_token_file ? flags.gitlab_token_file : file.gitlab_token_file;
  if (o.repo.empty()) return invalid_argument("--repo is required (or repo.url in --config)");
  if (o.branch.empty()) return invalid_argument("--branch must not be empty");
  if (!o.log_format.empty() && o.log_format != "json" && o.log_format != "text")
    return invalid_argument("--log-format must be 'json' or 'text'");
  if (Status st = check_log_level(o.log_level); !st.is_ok()) return st;
  if (o.poll.count() <= 0) return invalid_argument("--poll must be positive");
  o.repo_credentials = file.repo_credentials;
  o.git_write_back = file.git_write_back;
  if (Status st = resolve_git_write_back(o); !st.is_ok()) return st;
  return o;
}

}  // namespace sluice::api
