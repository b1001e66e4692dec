#include <catch2/catch.hpp>

#include <sstream>

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>

#include "api/logging.h"

using namespace sluice::api;

namespace {

std::string format_line(LogFormat format, const std::string& payload) {
  auto formatter = make_log_formatter(format);
  spdlog::details::log_msg msg(spdlog::source_loc{}, "sluice", spdlog::level::warn, payload);
  spdlog::memory_buf_t buf;
  formatter->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

}  // namespace

TEST_CASE("JSON log lines carry ts, level, msg and the structured fields", "[api][logging]") {
  // log_event() encodes fields behind a marker; reproduce that through the default logger.
  auto line = format_line(LogFormat::kJson, "plain message");
  REQUIRE(line.back() == '\n');
  auto j = nlohmann::json::parse(line);
  CHECK(j["msg"] == "plain message");
  CHECK(j["level"] == "warning");
  CHECK(j["ts"].get<std::string>().size() == 24);

  std::string fields = std::string(1, '\x1e') +
                       R"({"msg":"aborted","rollout":"orders-api","revision":7,"commit":"c0ffee",)"
                       R"("reason":"success-rate 0.82 < 0.95"})";
  auto structured = nlohmann::json::parse(format_line(LogFormat::kJson, fields));
  CHECK(structured["msg"] == "aborted");
  CHECK(structured["rollout"] == "orders-api");
  CHECK(structured["revision"] == 7);
  CHECK(structured["commit"] == "c0ffee");
  CHECK(structured["reason"] == "success-rate 0.82 < 0.95");

  auto text = format_line(LogFormat::kText, fields);
  CHECK(text.find("aborted") != std::string::npos);
  CHECK(text.find("rollout=orders-api") != std::string::npos);
  CHECK(text.find("revision=7") != std::string::npos);
}

TEST_CASE("a recorded event becomes a log line with every field, secrets removed",
          "[api][logging]") {
  const nlohmann::json event = {
      {"id", 12},          {"time", "2026-12-07T15:02:11Z"},
      {"rollout", "orders-api"}, {"revision", 3},
      {"version", "3.0.0"},      {"commit", "3f1c0ffee"},
      {"type", "Warning"},       {"from", "Paused"},
      {"to", "Degraded"},        {"reason", "Aborted"},
      {"message", "aborted by alice: fetch https://bob:s3cret@git.example.com/r failed"},
      {"actor", "alice"},        {"evidence", nlohmann::json::object()}};
  nlohmann::json fields = event_log_fields(event);
  CHECK(fields["rollout"] == "orders-api");
  CHECK(fields["revision"] == 3);
  CHECK(fields["version"] == "3.0.0");
  CHECK(fields["commit"] == "3f1c0ffee");
  CHECK(fields["event"] == "Aborted");
  CHECK(fields["actor"] == "alice");
  const std::string reason = fields["reason"];
  CHECK(reason.find("s3cret") == std::string::npos);
  CHECK(reason.find("https://git.example.com/r") != std::string::npos);

  // Unknown values are null, never absent: a pipeline can rely on the keys.
  nlohmann::json bare = event_log_fields({{"rollout", "orders-api"}, {"reason", "RolloutDeleted"},
                                          {"revision", 0}, {"type", "Normal"}});
  for (const char* key : {"revision", "version", "commit", "reason", "actor"}) {
    INFO(key);
    REQUIRE(bare.contains(key));
    CHECK(bare[key].is_null());
  }

  // Through the formatters: JSON keeps the fields, text quotes values with spaces.
  std::string payload = std::string(1, '\x1e') + [&] {
    nlohmann::json p = fields;
    p["msg"] = "orders-api: Aborted";
    return p.dump();
  }();
  auto json_line = nlohmann::json::parse(format_line(LogFormat::kJson, payload));
  CHECK(json_line["event"] == "Aborted");
  CHECK(json_line["level"] == "warning");
  const std::string text = format_line(LogFormat::kText, payload);
  CHECK(text.find("event=Aborted") != std::string::npos);
  CHECK(text.find("reason=\"aborted by alice: fetch https://git.example.com/r failed\"") !=
        std::string::npos);

  // log_recorded_event(): a Warning event at warn, a Normal one at info, one line each.
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_formatter(make_log_formatter(LogFormat::kJson));
  spdlog::set_default_logger(logger);
  log_recorded_event(event);
  nlohmann::json normal = event;
  normal["type"] = "Normal";
  normal["reason"] = "StepCompleted";
  log_recorded_event(normal);
  spdlog::set_default_logger(previous);
  std::istringstream lines(out.str());
  std::string first, second, rest;
  REQUIRE(std::getline(lines, first));
  REQUIRE(std::getline(lines, second));
  CHECK_FALSE(std::getline(lines, rest));
  auto warn = nlohmann::json::parse(first);
  CHECK(warn["level"] == "warning");
  CHECK(warn["event"] == "Aborted");
  CHECK(warn["commit"] == "3f1c0ffee");
  CHECK(warn["msg"].get<std::string>().find("s3cret") == std::string::npos);
  auto info = nlohmann::json::parse(second);
  CHECK(info["level"] == "info");
  CHECK(info["event"] == "StepCompleted");
}
