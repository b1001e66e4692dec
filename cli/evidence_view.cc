#include "cli/evidence_view.h"

#include <fmt/format.h>

namespace sluice::cli {
namespace {

using nlohmann::json;

std::string value_text(const json& v) {
  if (v.is_number()) return fmt::format("{:.4g}", v.get<double>());
  if (v.is_null()) return "-";
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// "2026-12-02T05:01:23.692Z" -> "05:01:23.692"; anything else unchanged.
std::string clock_part(const std::string& rfc3339) {
  const size_t t = rfc3339.find('T');
  if (t == std::string::npos) return rfc3339;
  std::string out = rfc3339.substr(t + 1);
  if (!out.empty() && out.back() == 'Z') out.pop_back();
  return out;
}

void render_run(const json& run, const std::string& indent, std::string& out) {
  out += fmt::format("{}analysis run {} ({})\n", indent, run.value("name", "?"),
                     run.value("phase", "?"));
  for (const auto& m : run.value("metrics", json::array())) {
    out += fmt::format("{}  metric {}: {}{}\n", indent, m.value("name", "?"), m.value("phase", "?"),
                       m.value("message", "").empty() ? "" : " (" + m.value("message", "") + ")");
    const json measurements = m.value("measurements", json::array());
    const size_t shown = std::min<size_t>(measurements.size(), 10);
    if (measurements.size() > shown) {
      out += fmt::format("{}    ... {} earlier measurements\n", indent,
                         measurements.size() - shown);
    }
    for (size_t i = measurements.size() - shown; i < measurements.size(); ++i) {
      const json& x = measurements[i];
      out += fmt::format("{}    {}  {:<12} {:>8}  {}\n", indent, clock_part(x.value("at", "")),
                         x.value("phase", "?"), value_text(x.value("value", json())),
                         x.value("message", ""));
    }
    if (!measurements.empty()) {
      out += fmt::format("{}    query: {}\n", indent, measurements.back().value("query", ""));
    }
  }
}

}  // namespace

std::string render_webhook_calls(const json& calls, const std::string& indent, size_t limit) {
  if (!calls.is_array() || calls.empty()) return "";
  std::string out;
  const size_t shown = std::min(calls.size(), limit);
  if (calls.size() > shown) {
    out += fmt::format("{}... {} earlier calls\n", indent, calls.size() - shown);
  }
  for (size_t i = calls.size() - shown; i < calls.size(); ++i) {
    const json& c = calls[i];
    const int status = c.value("status", 0);
    const std::string answer =
        status != 0 ? fmt::format("HTTP {}", status) : "no answer: " + c.value("error", "");
    std::string body = c.value("body", "");
    for (char& ch : body) {
      if (ch == '\n' || ch == '\t') ch = ' ';
    }
    if (body.size() > 100) body = body.substr(0, 97) + "...";
    out += fmt::format("{}{}  {} {} ({}) r{}: {} in {} ms{}\n", indent,
                       clock_part(c.value("at", "")), c.value("ok", false) ? "ok  " : "FAIL",
                       c.value("name", "?"), c.value("type", "?"), c.value("revision", 0), answer,
                       c.value("durationMs", 0), body.empty() ? "" : "  " + body);
  }
  return out;
}

std::string render_evidence(const json& evidence, const std::string& indent) {
  if (!evidence.is_object() || evidence.empty()) return "";
  std::string out;
  for (const auto& [key, value] : evidence.items()) {
    if (key == "analysisRun" && value.is_object()) {
      render_run(value, indent, out);
    } else if (key == "webhook" && value.is_object()) {
      out += fmt::format("{}webhook {}:\n", indent, value.value("name", "?"));
      out += render_webhook_calls(value.value("calls", json::array()), indent + "  ");
    } else if (key == "instances" && value.is_array()) {
      for (const auto& i : value) {
        const json exit = i.value("lastExit", json());
        out += fmt::format("{}instance {}: {}{}{}{}\n", indent, i.value("id", "?"),
                           i.value("ready", false) ? "ready" : "not ready",
                           i.contains("restarts") ? fmt::format(", {} restarts", i["restarts"].dump())
                                                  : "",
                           exit.is_null() ? "" : ", last exit: " + exit.value("description", exit.dump()),
                           i.value("lastError", "").empty() ? "" : ", " + i.value("lastError", ""));
      }
    } else {
      std::string text = value.dump();
      if (text.size() > 300) text = text.substr(0, 297) + "...";
      out += fmt::format("{}{}: {}\n", indent, key, text);
    }
  }
  return out;
}

}  // namespace sluice::cli
