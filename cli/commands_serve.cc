// Registers `sluice serve` (flags of shared/reference/api.md) and runs it (cli/serve.cc).
#include <memory>
#include <string>
#include <vector>

#include "base/duration.h"
#include "cli/commands.h"
#include "cli/serve.h"

namespace sluice::cli {

void register_serve_command(CLI::App& app, CommandRegistry& registry) {
  struct Raw {
    std::string repo, branch, path, state_dir, listen, poll, config, auth_file, webhook_secret_file,
        gitlab_token_file, prometheus, log_format, log_level;
    std::vector<std::string> allowed_hosts;
    int max_replicas = 0;
  };
  auto raw = std::make_shared<Raw>();
  auto* cmd = app.add_subcommand("serve", "Run the controller and its HTTP API");
  auto* repo =
      cmd->add_option("--repo", raw->repo, "Deploy repository: path, file://, https://, ssh://");
  auto* branch = cmd->add_option("--branch", raw->branch, "Branch to follow (default main)");
  auto* path = cmd->add_option("--path", raw->path, "Directory inside the repository");
  auto* state = cmd->add_option("--state-dir", raw->state_dir, "Journal and snapshots");
  auto* listen = cmd->add_option("--listen", raw->listen, "HOST:PORT (default 127.0.0.1:7070)");
  auto* allowed_host = cmd->add_option(
      "--allowed-host", raw->allowed_hosts,
      "Host name the API answers besides the listen address, NAME or NAME:PORT (repeatable; "
      "api.allowedHosts)");
  auto* poll = cmd->add_option("--poll", raw->poll, "Fetch interval (default 15s)");
  auto* config = cmd->add_option("--config", raw->config, "YAML config file");
  auto* auth = cmd->add_option("--auth-file", raw->auth_file, "Tokens: 'TOKEN ROLE [NAME]' lines");
  auto* secret = cmd->add_option("--webhook-secret-file", raw->webhook_secret_file,
                                 "GitHub webhook secret (webhooks.github.secretFile)");
  auto* gitlab = cmd->add_option("--gitlab-token-file", raw->gitlab_token_file,
                                 "GitLab webhook token (webhooks.gitlab.tokenFile)");
  auto* prom =
      cmd->add_option("--prometheus", raw->prometheus, "Default Prometheus address for analysis");
  auto* format = cmd->add_option("--log-format", raw->log_format, "json or text (default: auto)")
                     ->check(CLI::IsMember({"json", "text"}));
  auto* level = cmd->add_option("--log-level", raw->log_level, "trace|debug|info|warn|error");
  auto* max_replicas =
      cmd->add_option("--max-replicas", raw->max_replicas,
                      "Most replicas a Rollout may ask for (default 256; runtime.maxReplicas)");
  cmd->callback([=, &registry] {
    api::ServeFlags flags;
    auto set = [](CLI::Option* opt, const std::string& value, std::optional<std::string>& out) {
      if (opt->count() > 0) out = value;
    };
    set(repo, raw->repo, flags.repo);
    set(branch, raw->branch, flags.branch);
    set(path, raw->path, flags.path);
    set(state, raw->state_dir, flags.state_dir);
    set(listen, raw->listen, flags.listen);
    if (allowed_host->count() > 0) flags.allowed_hosts = raw->allowed_hosts;
    set(config, raw->config, flags.config_file);
    set(auth, raw->auth_file, flags.auth_file);
    set(secret, raw->webhook_secret_file, flags.webhook_secret_file);
    set(gitlab, raw->gitlab_token_file, flags.gitlab_token_file);
    set(prom, raw->prometheus, flags.prometheus_address);
    set(format, raw->log_format, flags.log_format);
    set(level, raw->log_level, flags.log_level);
    if (max_replicas->count() > 0) flags.max_replicas = raw->max_replicas;
    if (poll->count() > 0) {
      auto d = parse_duration(raw->poll);
      if (!d.is_ok()) {
        std::fprintf(stderr, "sluice serve: --poll: %s\n", d.status().message().c_str());
        registry.set_exit_code(3);
        return;
      }
      flags.poll = *d;
    }
    registry.set_exit_code(run_serve(flags));
  });
}

}  // namespace sluice::cli
