// One notification target as the serve config (`notifications:`) describes it. Parsed by
// api/config.cc; the secrets it points to are read by Notifier::create.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sluice::notify {

enum class TargetKind { kSlack, kWebhook };

struct TargetConfig {
  std::string name;
  TargetKind kind = TargetKind::kWebhook;
  std::string webhook_url_file;  // slack.webhookUrlFile: the URL is the credential
  std::string url;               // webhook.url (never logged: it may carry a token)
  std::vector<std::pair<std::string, std::string>> headers;  // webhook.headers
  std::string secret_file;       // webhook.secretFile: HMAC key (optional)
  std::string ca_file;           // caFile: trust only this CA bundle for https (optional)
  std::vector<std::string> triggers;
  std::vector<std::string> rollouts;  // empty: every rollout
  std::string where;                  // "file:line" of the entry, for errors found later
};

}  // namespace sluice::notify
