// Process-wide logging setup (spdlog): human-readable lines on a TTY, JSON lines otherwise, or
// as forced by --log-format json|text (config: log: {format, level}). A JSON line is one object:
// ts, level, msg and, when given through log_event()/log_fields(), the structured fields
// (rollout, revision, version, commit, event, reason, actor, ...; docs/ARCHITECTURE.md,
// Observability). A text line is `ts level msg key=value ...`, a value with spaces quoted.
//
// Plain spdlog::info(...) calls from any module are formatted the same way (without the extra
// fields). Secrets must never be passed in; nothing here redacts (callers use base/redact.h).
// Thread safety: setup_logging() once at start-up; logging itself is thread-safe (spdlog mt sink).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include "base/status.h"

namespace sluice::api {

enum class LogFormat { kText, kJson };

struct LogFields {
  std::string rollout;
  std::optional<int64_t> revision;
  std::string commit;
  std::string reason;
};

// The fields of one recorded controller event (GET /api/v1/events item) as a log line's fields:
// rollout, revision, version, commit, event (the event's reason, e.g. AnalysisFailed), reason
// (its message: why), actor; each present, null when unknown. URLs in the message lose their
// credentials.
nlohmann::json event_log_fields(const nlohmann::json& event);

// Logs one recorded event: Warning events at warn, others at info.
void log_recorded_event(const nlohmann::json& event);

// format: "json", "text" or "" (auto: text when stderr is a TTY). level: spdlog level name.
Status setup_logging(const std::string& format, const std::string& level);

// Logs `msg` with structured fields on the default logger.
void log_event(spdlog::level::level_enum level, const std::string& msg, const LogFields& fields);

// Logs `msg` with any fields (a JSON object; "msg", "ts" and "level" are reserved).
void log_fields(spdlog::level::level_enum level, const std::string& msg,
                const nlohmann::json& fields);

// The formatter used for `format` (exposed for tests: format a log_msg into a line).
std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format);

}  // namespace sluice::api
