// bin/orders-load as a real process against a real bin/orders-api on loopback.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/paths/paths.h"
#include "tests/support/process/test_process.h"

using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs orders-load to completion; returns its exit code, stdout in `out`.
int run_load(const TempDir& dir, std::vector<std::string> args, std::string& out) {
  args.insert(args.begin(), sluice::test::bin_dir() + "/orders-load");
  const std::string log = dir.file("load.out");
  auto child = ChildProcess::spawn(args, {}, log, dir.file("load.err"));
  REQUIRE(child.is_ok());
  auto code = child.value()->wait_exit(30s);
  REQUIRE(code.has_value());
  out = slurp(log);
  return *code;
}

}  // namespace

TEST_CASE("orders-load --help lists every flag and exits 0", "[examples]") {
  TempDir dir;
  std::string out;
  CHECK(run_load(dir, {"--help"}, out) == 0);
  for (const char* flag : {"--target", "--rps", "--connections", "--path", "--duration-s",
                           "--max-requests", "--timeout-ms", "--stats-file",
                           "--stats-interval-ms", "--output"}) {
    INFO(flag);
    CHECK(out.find(flag) != std::string::npos);
  }
}

TEST_CASE("orders-load prints a summary for people, or JSON with --output json", "[examples]") {
  TempDir dir;
  auto api = start_service("orders-api", {"--error-rate", "1"}, {}, dir, "orders-api");
  REQUIRE(api.is_ok());
  const std::string target = "127.0.0.1:" + std::to_string(api.value().port);
  std::string out;
  SECTION("text") {
    REQUIRE(run_load(dir, {"--target", target, "--rps", "200", "--connections", "1", "--max-requests", "40"}, out) == 0);
    INFO(out);
    CHECK(out.find("requests: 40 in ") != std::string::npos);
    CHECK(out.find("failed: 40 (0 connection errors or timeouts)") != std::string::npos);
    CHECK(out.find("first failed request: ") != std::string::npos);
  }
  SECTION("json") {
    REQUIRE(run_load(dir,
                     {"--target", target, "--rps", "200", "--connections", "1", "--max-requests", "40", "--output",
                      "json"},
                     out) == 0);
    auto j = nlohmann::json::parse(out);
    CHECK(j["requests"] == 40);
    CHECK(j["failed"] == 40);
    CHECK(j["finished"] == true);
  }
  SECTION("a bad --output is refused") {
    CHECK(run_load(dir, {"--target", target, "--output", "xml"}, out) == 2);
  }
}
