#include "api/logging.h"

#include <unistd.h>

#include <chrono>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <nlohmann/json.hpp>

#include "base/redact.h"

namespace sluice::api {
namespace {

// Structured calls put their fields into the payload behind this marker, as a JSON object that
// always holds "msg". The formatters unpack it; plain messages pass through as "msg".
constexpr char kFieldsMarker = '\x1e';

std::string format_ts(spdlog::log_clock::time_point tp) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

nlohmann::json payload_fields(const spdlog::details::log_msg& msg) {
  std::string_view payload(msg.payload.data(), msg.payload.size());
  if (!payload.empty() && payload.front() == kFieldsMarker) {
    auto parsed = nlohmann::json::parse(payload.substr(1), nullptr, false);
    if (parsed.is_object()) return parsed;
  }
  return nlohmann::json{{"msg", std::string(payload)}};
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json fields = payload_fields(msg);
    std::string line;
    auto level = spdlog::level::to_string_view(msg.level);
    if (format_ == LogFormat::kJson) {
      nlohmann::json out = {{"ts", format_ts(msg.time)},
                            {"level", std::string(level.data(), level.size())}};
      for (auto& [k, v] : fields.items()) out[k] = v;
      line = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = fmt::format("{} {:<5} {}", format_ts(msg.time),
                         std::string_view(level.data(), level.size()),
                         fields.value("msg", std::string()));
      for (auto& [k, v] : fields.items()) {
        if (k == "msg" || v.is_null()) continue;
        std::string value = v.is_string() ? v.get<std::string>() : v.dump();
        // logfmt: a value with a space, quote or '=' is quoted so the line splits back into pairs.
        if (value.empty() || value.find_first_of(" \"=") != std::string::npos)
          value = nlohmann::json(value).dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace);
        line += " " + k + "=" + value;
      }
    }
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  LogFormat format_;
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format) {
  return std::make_unique<LineFormatter>(format);
}

Status setup_logging(const std::string& format, const std::string& level) {
  LogFormat f;
  if (format == "json")
    f = LogFormat::kJson;
  else if (format == "text")
    f = LogFormat::kText;
  else if (format.empty())
    f = isatty(STDERR_FILENO) ? LogFormat::kText : LogFormat::kJson;
  else
    return invalid_argument("log format must be 'json' or 'text'");
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return invalid_argument("unknown log level '" + level + "'");
  auto logger =
      std::make_shared<spdlog::logger>("sluice", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(make_log_formatter(f));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return Status::ok();
}

void log_event(spdlog::level::level_enum level, const std::string& msg, const LogFields& fields) {
  nlohmann::json payload = nlohmann::json::object();
  if (!fields.rollout.empty()) payload["rollout"] = fields.rollout;
  if (fields.revision) payload["revision"] = *fields.revision;
  if (!fields.commit.empty()) payload["commit"] = fields.commit;
  if (!fields.reason.empty()) payload["reason"] = fields.reason;
  log_fields(level, msg, payload);
}

nlohmann::json event_log_fields(const nlohmann::json& event) {
  auto text = [&](const char* key) -> nlohmann::json {
    auto it = event.find(key);
    if (it == event.end() || !it->is_string() || it->get<std::string>().empty()) return nullptr;
    return redact_urls_in(it->get<std::string>());
  };
  auto revision = event.find("revision");
  return {{"rollout", text("rollout")},
          {"revision", revision != event.end() && revision->is_number_integer() &&
                               revision->get<int64_t>() > 0
                           ? *revision
                           : nlohmann::json(nullptr)},
          {"version", text("version")},
          {"commit", text("commit")},
          {"event", text("reason")},
          {"reason", text("message")},
          {"actor", text("actor")},
          {"type", text("type")},
          {"from", text("from")},
          {"to", text("to")}};
}

void log_recorded_event(const nlohmann::json& event) {
  nlohmann::json fields = event_log_fields(event);
  auto str = [&](const char* key) {
    return fields[key].is_string() ? fields[key].get<std::string>() : std::string();
  };
  std::string msg = str("rollout") + ": " + str("event");
  if (fields["revision"].is_number()) msg += " (revision " + fields["revision"].dump() + ")";
  if (!str("reason").empty()) msg += ": " + str("reason");
  log_fields(str("type") == "Warning" ? spdlog::level::warn : spdlog::level::info, msg, fields);
}

void log_fields(spdlog::level::level_enum level, const std::string& msg,
                const nlohmann::json& fields) {
  nlohmann::json payload = fields.is_object() ? fields : nlohmann::json::object();
  payload.erase("ts");
  payload.erase("level");
  payload["msg"] = msg;
  std::string line(1, kFieldsMarker);
  line += payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  spdlog::default_logger_raw()->log(level, "{}", line);
}

}  // namespace sluice::api
