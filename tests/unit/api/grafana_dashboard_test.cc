// examples/grafana/sluice-dashboard.json is what operators import: it must parse, its panels
// must have unique ids, it charts the router's latency histogram, annotates aborts, and every
// sluice_* metric it queries is one docs/ARCHITECTURE.md lists (the names /metrics serves).
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/support/paths/paths.h"

using nlohmann::json;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// sluice_* metric names in a PromQL expression, without the histogram suffixes.
std::set<std::string> metric_names(const std::string& expr) {
  std::set<std::string> out;
  static const std::regex name(R"(sluice_[a-z_]+)");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name); it != std::sregex_iterator();
       ++it) {
    std::string n = it->str();
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0)
        n.resize(n.size() - s.size());
    }
    out.insert(n);
  }
  return out;
}

}  // namespace

TEST_CASE("the Grafana dashboard parses, charts latency and annotates aborts", "[grafana]") {
  const std::string root = sluice::test::source_dir();
  const json dashboard =
      json::parse(read_file(root + "/examples/grafana/sluice-dashboard.json"), nullptr, false);
  REQUIRE(dashboard.is_object());
  REQUIRE(dashboard["panels"].is_array());

  std::set<int> ids;
  std::set<std::string> queried;
  bool latency = false;
  for (const auto& panel : dashboard["panels"]) {
    INFO(panel.value("title", ""));
    CHECK(ids.insert(panel.at("id").get<int>()).second);
    for (const auto& target : panel.value("targets", json::array())) {
      const std::string expr = target.at("expr");
      for (const auto& n : metric_names(expr)) queried.insert(n);
      if (expr.find("histogram_quantile") != std::string::npos &&
          expr.find("sluice_router_request_duration_seconds_bucket") != std::string::npos)
        latency = true;
    }
  }
  CHECK(latency);

  bool abort_annotation = false;
  for (const auto& a : dashboard.at("annotations").at("list")) {
    const std::string expr = a.value("expr", "");
    for (const auto& n : metric_names(expr)) queried.insert(n);
    if (expr.find("sluice_rollout_aborts_total") != std::string::npos && a.value("enable", false))
      abort_annotation = true;
  }
  CHECK(abort_annotation);

  const std::string architecture = read_file(root + "/docs/ARCHITECTURE.md");
  for (const auto& n : queried) {
    INFO(n << " is charted but not listed in docs/ARCHITECTURE.md");
    CHECK(architecture.find(n) != std::string::npos);
  }
}
