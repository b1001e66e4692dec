// api.allowedHosts in the config file and --allowed-host on the command line (issue 19).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "api/config.h"

using namespace sluice::api;

TEST_CASE("config: api.allowedHosts parses, and a bad entry names its line", "[api][config]") {
  auto cfg = parse_serve_config(
      "repo: /srv/repo\napi:\n  allowedHosts: [sluice.example.com, \"deploy:8443\"]\n",
      "sluice.yaml");
  REQUIRE(cfg.is_ok());
  REQUIRE(cfg->allowed_hosts);
  CHECK(*cfg->allowed_hosts == std::vector<std::string>{"sluice.example.com", "deploy:8443"});

  struct Case {
    const char* yaml;
    const char* expect;
  };
  const Case cases[] = {
      {"api:\n  allowedHosts: [ok.example, \"https://x.example\"]\n",
       "sluice.yaml:2: api.allowedHosts: 'https://x.example' is not a host name or host:port"},
      {"api:\n  allowedHosts:\n    - \"*.example.com\"\n", "sluice.yaml:3: api.allowedHosts"},
      {"api:\n  allowedHosts: example.com\n", "'api.allowedHosts' must be a list"},
      {"api:\n  allowedHost: [x]\n", "unknown key 'allowedHost' in 'api'"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    auto bad = parse_serve_config(c.yaml, "sluice.yaml");
    REQUIRE_FALSE(bad.is_ok());
    CHECK_THAT(bad.status().message(), Catch::Contains(c.expect));
  }
}

TEST_CASE("config: --allowed-host replaces the file's list", "[api][config]") {
  auto dir = std::filesystem::temp_directory_path() /
             ("sluice-allowed-hosts-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = (dir / "sluice.yaml").string();
  std::ofstream(file) << "repo: /srv/repo\napi: {allowedHosts: [from.file]}\n";
  ServeFlags flags;
  flags.config_file = file;
  auto from_file = resolve_serve_options(flags);
  REQUIRE(from_file.is_ok());
  CHECK(from_file->allowed_hosts == std::vector<std::string>{"from.file"});
  flags.allowed_hosts = std::vector<std::string>{"from.flag", "other.flag:9000"};
  auto from_flag = resolve_serve_options(flags);
  REQUIRE(from_flag.is_ok());
  CHECK(from_flag->allowed_hosts == std::vector<std::string>{"from.flag", "other.flag:9000"});
  flags.allowed_hosts = std::vector<std::string>{"bad/host"};
  auto bad = resolve_serve_options(flags);
  REQUIRE_FALSE(bad.is_ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("--allowed-host: 'bad/host'"));
  std::filesystem::remove_all(dir);
}
