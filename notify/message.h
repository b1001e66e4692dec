// What a notification says: the generic webhook body (the contract's exact fields), the
// Slack-compatible body (Slack, Mattermost and Rocket.Chat incoming webhooks), the dashboard
// link and the HMAC signature.
//
// Pure functions; thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace sluice::notify {

// `<base>/ui/#/rollouts/<name>`: the dashboard's page of the rollout (api/ui/app.js routes).
std::string dashboard_url(const std::string& base, const std::string& rollout);

// {"trigger","rollout","revision","version","commit","phase","message","evidence","event",
//  "dashboard"}: phase is the event's `to`.
nlohmann::json webhook_body(const std::string& trigger, const nlohmann::json& event,
                            const std::string& dashboard);

// {"text": one line, "attachments": [{color, title, title_link, text, fields}]}: names the
// rollout, the version, the short commit, the reason and message, the measured values of the
// evidence (at most kMaxMeasuredValues) and links to the dashboard.
nlohmann::json slack_body(const std::string& trigger, const nlohmann::json& event,
                          const std::string& dashboard);
inline constexpr int kMaxMeasuredValues = 4;

// "metric=value (Phase)" for the newest measurement of each metric of the evidence's analysis
// run, at most `limit`, joined by ", "; "" when there are none.
std::string measured_values(const nlohmann::json& evidence, int limit);

// Lower-case hex of HMAC-SHA256(key, body).
std::string hmac_sha256_hex(const std::string& key, const std::string& body);

}  // namespace sluice::notify
