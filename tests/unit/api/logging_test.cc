#include <catch2/catch.hpp>

#include <spdlog/details/log_msg.h>
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
