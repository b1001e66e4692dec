// The `notifications:` and `api.externalUrl` keys of the serve config (api/config.h): the
// contract's example parses, and bad input names file:line and the field.
#include <catch2/catch.hpp>

#include "api/config.h"

using namespace sluice::api;
using sluice::notify::TargetKind;

TEST_CASE("config: the contract's notifications example parses", "[api][config][notify]") {
  const char* yaml = R"(repo: /srv/deploy-repo
api: {externalUrl: "https://sluice.example/"}
notifications:
  - name: chat
    slack: {webhookUrlFile: /etc/sluice/slack-webhook}
    triggers: [on-rollout-aborted, on-rollout-completed]
  - name: ops
    webhook:
      url: https://ops.example/hooks/sluice
      headers: [{name: X-Team, value: payments}]
      secretFile: /etc/sluice/ops-hmac
    caFile: /etc/sluice/ops-ca.pem
    triggers: [on-rollout-aborted, on-analysis-run-failed, on-rollout-paused]
    rollouts: [orders-api, orders-worker]
)";
  auto cfg = parse_serve_config(yaml, "sluice.yaml");
  REQUIRE(cfg.is_ok());
  CHECK(cfg->external_url == "https://sluice.example/");
  REQUIRE(cfg->notifications.size() == 2);
  const auto& chat = cfg->notifications[0];
  CHECK(chat.name == "chat");
  CHECK(chat.kind == TargetKind::kSlack);
  CHECK(chat.webhook_url_file == "/etc/sluice/slack-webhook");
  CHECK(chat.triggers == std::vector<std::string>{"on-rollout-aborted", "on-rollout-completed"});
  CHECK(chat.rollouts.empty());
  CHECK(chat.where == "sluice.yaml:4");
  const auto& ops = cfg->notifications[1];
  CHECK(ops.kind == TargetKind::kWebhook);
  CHECK(ops.url == "https://ops.example/hooks/sluice");
  CHECK(ops.headers == std::vector<std::pair<std::string, std::string>>{{"X-Team", "payments"}});
  CHECK(ops.secret_file == "/etc/sluice/ops-hmac");
  CHECK(ops.ca_file == "/etc/sluice/ops-ca.pem");
  CHECK(ops.rollouts == std::vector<std::string>{"orders-api", "orders-worker"});

  ServeFlags flags;
  flags.repo = "/srv/deploy-repo";
  flags.listen = "127.0.0.1:9999";
  auto o = resolve_serve_options(flags);
  REQUIRE(o.is_ok());
  CHECK(o->external_url == "http://127.0.0.1:9999");  // the default follows the listen address
}

TEST_CASE("config: notification errors name file:line and the field", "[api][config][notify]") {
  struct Case {
    const char* yaml;
    const char* expected;
  };
  const Case cases[] = {
      {"notifications:\n  - name: chat\n    slack: {webhookUrlFile: /f}\n"
       "    triggers: [on-rollout-abort]\n",
       "sluice.yaml:4: notifications[chat].triggers: unknown trigger 'on-rollout-abort' (did you "
       "mean 'on-rollout-aborted'?)"},
      {"notifications:\n  - name: chat\n    triggers: [on-rollout-aborted]\n",
       "sluice.yaml:2: notifications[chat]: exactly one of 'slack' or 'webhook' is required"},
      {"notifications:\n  - name: chat\n    slack: {webhookUrlFile: /f}\n"
       "    webhook: {url: http://x/}\n    triggers: [on-rollout-aborted]\n",
       "sluice.yaml:2: notifications[chat]: exactly one of 'slack' or 'webhook' is required"},
      {"notifications:\n  - name: a\n    slack: {webhookUrlFile: /f}\n"
       "    triggers: [on-rollout-aborted]\n  - name: a\n    slack: {webhookUrlFile: /g}\n"
       "    triggers: [on-rollout-aborted]\n",
       "sluice.yaml:5: notifications[].name 'a' is used twice"},
      {"notifications:\n  - name: a\n    slack: {webhookUrl: https://hooks.example/T/B/x}\n"
       "    triggers: [on-rollout-aborted]\n",
       "sluice.yaml:3: unknown key 'webhookUrl' in 'notifications[a].slack' (known: webhookUrlFile)"},
      {"notifications:\n  - name: a\n    webhook: {url: ftp://x/}\n"
       "    triggers: [on-rollout-aborted]\n",
       "sluice.yaml:3: notifications[a].webhook.url must start with http:// or https://"},
      {"notifications:\n  - name: a\n    webhook: {url: http://x/}\n",
       "sluice.yaml:2: notifications[a]: 'triggers' must list at least one of"},
      {"notifications:\n  - name: a\n    webhook: {url: http://x/}\n"
       "    triggers: [on-rollout-aborted]\n    rollout: [x]\n",
       "sluice.yaml:5: unknown key 'rollout' in 'notifications[]'"},
      {"api: {externalUrl: sluice.example}\n",
       "sluice.yaml:1: api.externalUrl must start with http:// or https://"},
  };
  for (const auto& c : cases) {
    auto cfg = parse_serve_config(c.yaml, "sluice.yaml");
    INFO(c.yaml);
    REQUIRE_FALSE(cfg.is_ok());
    INFO(cfg.status().message());
    CHECK(cfg.status().message().rfind(c.expected, 0) == 0);
  }
}
