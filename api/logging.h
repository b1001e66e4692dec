// Process-wide logging setup (spdlog): human-readable lines on a TTY, JSON lines otherwise, or
// as forced by --log-format json|text. JSON lines carry ts, level, msg and, when given through
// log_event(), rollout, revision, commit and reason.
//
// Plain spdlog::info(...) calls from any module are formatted the same way (without the extra
// fields). Secrets must never be passed in; nothing here redacts.
// Thread safety: setup_logging() once at start-up; logging itself is thread-safe (spdlog mt sink).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

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

// format: "json", "text" or "" (auto: text when stderr is a TTY). level: spdlog level name.
Status setup_logging(const std::string& format, const std::string& level);

// Logs `msg` with structured fields on the default logger.
void log_event(spdlog::level::level_enum level, const std::string& msg, const LogFields& fields);

// The formatter used for `format` (exposed for tests: format a log_msg into a line).
std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format);

}  // namespace sluice::api
