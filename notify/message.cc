#include "notify/message.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fmt/format.h>

#include "base/http_client.h"

namespace sluice::notify {

namespace {

using json = nlohmann::json;

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string value_text(const json& value) {
  if (value.is_number_float()) return fmt::format("{:.4g}", value.get<double>());
  if (value.is_null()) return "none";
  if (value.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < value.size() && i < 3; ++i) {
      out += (i ? ", " : "") + value_text(value[i]);
    }
    return out + (value.size() > 3 ? ", ...]" : "]");
  }
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// Slack's colours: good (green), warning (yellow), danger (red).
std::string colour(const std::string& trigger) {
  if (trigger == "on-rollout-aborted" || trigger == "on-analysis-run-failed" ||
      trigger == "on-analysis-run-error")
    return "danger";
  if (trigger == "on-rollout-paused") return "warning";
  return "good";
}

// Slack's mrkdwn needs &, < and > escaped in text it should not read as markup.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string dashboard_url(const std::string& base, const std::string& rollout) {
  std::string root = base;
  while (!root.empty() && root.back() == '/') root.pop_back();
  return root + "/ui/#/rollouts/" + url_encode(rollout);
}

json webhook_body(const std::string& trigger, const json& event, const std::string& dashboard) {
  auto field = [&](const char* key) {
    auto it = event.find(key);
    return it == event.end() ? json(nullptr) : *it;
  };
  return json{{"trigger", trigger},
              {"rollout", field("rollout")},
              {"revision", field("revision")},
              {"version", field("version")},
              {"commit", field("commit")},
              {"phase", field("to")},
              {"message", field("message")},
              {"evidence", event.contains("evidence") ? event["evidence"] : json::object()},
              {"event", event},
              {"dashboard", dashboard}};
}

std::string measured_values(const json& evidence, int limit) {
  if (!evidence.is_object()) return "";
  auto run = evidence.find("analysisRun");
  if (run == evidence.end() || !run->is_object()) return "";
  auto metrics = run->find("metrics");
  if (metrics == run->end() || !metrics->is_array()) return "";
  std::string out;
  int shown = 0;
  for (const auto& m : *metrics) {
    if (shown >= limit) {
      out += ", ...";
      break;
    }
    auto ms = m.find("measurements");
    if (ms == m.end() || !ms->is_array() || ms->empty()) continue;
    const json& last = ms->back();
    out += fmt::format("{}{}={} ({})", shown ? ", " : "", str(m, "name"),
                       value_text(last.contains("value") ? last["value"] : json(nullptr)),
                       str(last, "phase"));
    ++shown;
  }
  return out;
}

json slack_body(const std::string& trigger, const json& event, const std::string& dashboard) {
  const std::string rollout = str(event, "rollout");
  const std::string version = str(event, "version");
  const std::string commit = str(event, "commit").substr(0, 7);
  const std::string reason = str(event, "reason");
  const std::string message = str(event, "message");
  const int64_t revision = event.value("revision", int64_t{0});
  const std::string measured =
      measured_values(event.contains("evidence") ? event["evidence"] : json(), kMaxMeasuredValues);

  const std::string headline =
      fmt::format("{}: rollout {} revision {} (version {}{}{}) {}", trigger, escape(rollout),
                  revision, escape(version.empty() ? "?" : version), commit.empty() ? "" : ", ",
                  commit.empty() ? "" : "commit " + commit, escape(str(event, "to")));
  std::string text = fmt::format("*{}*: {}", escape(reason), escape(message));
  if (!measured.empty()) text += "\nMeasured: " + escape(measured);
  json fields = json::array({
      {{"title", "Version"}, {"value", version}, {"short", true}},
      {{"title", "Commit"}, {"value", commit}, {"short", true}},
      {{"title", "Phase"}, {"value", str(event, "to")}, {"short", true}},
      {{"title", "Reason"}, {"value", reason}, {"short", true}},
  });
  return json{{"text", fmt::format("{} <{}|open in the dashboard>", headline, dashboard)},
              {"attachments", json::array({{{"color", colour(trigger)},
                                            {"fallback", headline},
                                            {"title", fmt::format("{} revision {}", rollout,
                                                                  revision)},
                                            {"title_link", dashboard},
                                            {"text", text},
                                            {"fields", fields}}})}};
}

std::string hmac_sha256_hex(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 15];
  }
  return out;
}

}  // namespace sluice::notify
