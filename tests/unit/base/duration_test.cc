#include <catch2/catch.hpp>

#include "base/duration.h"

using sluice::Duration;
using sluice::format_duration;
using sluice::parse_duration;

TEST_CASE("durations parse in every documented unit", "[duration]") {
  struct Case {
    const char* text;
    int64_t ms;
  };
  const Case cases[] = {{"500ms", 500}, {"30s", 30'000},    {"5m", 300'000},   {"1h", 3'600'000},
                        {"2", 2'000},   {"0.5", 500},       {"1m30s", 90'000}, {"0s", 0},
                        {"0.05s", 50},  {"1.5h", 5'400'000}};
  for (const auto& c : cases) {
    INFO(c.text);
    auto d = parse_duration(c.text);
    REQUIRE(d.is_ok());
    CHECK(d->count() == c.ms);
  }
}

TEST_CASE("bad durations are errors with the text", "[duration]") {
  for (const char* text : {"", "abc", "5x", "ms", "-1s", "1s2", "1..2s", "99999999h"}) {
    INFO(text);
    auto d = parse_duration(text);
    REQUIRE_FALSE(d.is_ok());
    CHECK(d.status().message().find("invalid duration") != std::string::npos);
  }
}

TEST_CASE("durations format in their shortest exact unit", "[duration]") {
  CHECK(format_duration(Duration(1500)) == "1500ms");
  CHECK(format_duration(Duration(30'000)) == "30s");
  CHECK(format_duration(Duration(300'000)) == "5m");
  CHECK(format_duration(Duration(7'200'000)) == "2h");
  CHECK(format_duration(Duration(0)) == "0s");
}
