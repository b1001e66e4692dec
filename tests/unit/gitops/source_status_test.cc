// The source's /metrics lines: fetch results, the invalid-head gauge and counter.
#include "gitops/source_status.h"

#include <catch2/catch.hpp>

using namespace sluice;
using namespace sluice::gitops;

TEST_CASE("source metrics count fetches by result and flag an invalid head", "[gitops][metrics]") {
  SourceStatus s;
  s.fetches = 7;
  s.fetch_failures = 2;
  s.invalid_heads = 1;
  std::string text = metrics_text(s);
  CHECK(text.find("sluice_git_fetch_total{result=\"success\"} 5\n") != std::string::npos);
  CHECK(text.find("sluice_git_fetch_total{result=\"error\"} 2\n") != std::string::npos);
  CHECK(text.find("sluice_git_source_invalid 0\n") != std::string::npos);
  CHECK(text.find("sluice_git_invalid_heads_total 1\n") != std::string::npos);
  CHECK(text.find("sluice_git_last_fetch_timestamp_seconds") == std::string::npos);

  s.error = SourceError{"abc", "services/a.yaml:3:1: spec.replicas: must be >= 0", "services/a.yaml", 3};
  s.fetched_at = from_unix_ms(1'767'225'600'500);
  text = metrics_text(s);
  CHECK(text.find("sluice_git_source_invalid 1\n") != std::string::npos);
  CHECK(text.find("sluice_git_last_fetch_timestamp_seconds 1767225600.5") != std::string::npos);
}
