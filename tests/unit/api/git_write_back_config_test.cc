// gitWriteBack and the repo credentials in `sluice serve --config` (issue 21): strict parsing
// with file:line, and a repository Sluice could only read refused at configuration time.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "api/config.h"

using namespace sluice::api;

namespace {

struct ConfigFile {
  static inline int next = 0;
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("sluice-gwb-config-test-" + std::to_string(::getpid()) + "-" +
                               std::to_string(next++));
  std::string path = (dir / "sluice.yaml").string();
  explicit ConfigFile(const std::string& text) {
    std::filesystem::create_directories(dir);
    std::ofstream(path) << text;
  }
  ~ConfigFile() { std::filesystem::remove_all(dir); }
  sluice::Result<ServeOptions> resolve() const {
    ServeFlags flags;
    flags.config_file = path;
    return resolve_serve_options(flags);
  }
};

}  // namespace

TEST_CASE("config: gitWriteBack parses, and its mistakes name the line", "[api][config]") {
  auto cfg = parse_serve_config(
      "repo:\n  url: https://git.example/deploy.git\n  passwordFile: /etc/sluice/token\n"
      "gitWriteBack:\n  onAbort: revert\n  author: \"Sluice Bot <sluice@example.com>\"\n"
      "  maxAttempts: 6\n",
      "sluice.yaml");
  REQUIRE(cfg.is_ok());
  REQUIRE(cfg->git_write_back);
  CHECK(cfg->git_write_back->on_abort == "revert");
  CHECK(cfg->git_write_back->author == "Sluice Bot <sluice@example.com>");
  CHECK(cfg->git_write_back->max_attempts == 6);
  CHECK(cfg->repo_credentials.password_file == "/etc/sluice/token");

  struct Case {
    const char* yaml;
    const char* expect;
  };
  const Case cases[] = {
      {"gitWriteBack:\n  onAbort: revert\n", "sluice.yaml:2: gitWriteBack.author is required"},
      {"gitWriteBack:\n  onAbort: always\n  author: \"A <a@b.c>\"\n",
       "sluice.yaml:2: gitWriteBack.onAbort must be 'revert' or 'none'"},
      {"gitWriteBack:\n  author: sluice@example.com\n",
       "sluice.yaml:2: gitWriteBack.author must be 'Name <email>'"},
      {"gitWriteBack:\n  author: \"A <a@b.c>\"\n  force: true\n",
       "sluice.yaml:3: unknown key 'force' in 'gitWriteBack'"},
      {"gitWriteBack:\n  author: \"A <a@b.c>\"\n  maxAttempts: 0\n",
       "sluice.yaml:3: 'gitWriteBack.maxAttempts' must be a whole number from 1 to 20"},
      {"repo:\n  url: x\n  token: abc\n", "sluice.yaml:3: unknown key 'token' in 'repo'"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    auto bad = parse_serve_config(c.yaml, "sluice.yaml");
    REQUIRE_FALSE(bad.is_ok());
    CHECK_THAT(bad.status().message(), Catch::Contains(c.expect));
  }
}

TEST_CASE("config: a repository Sluice only reads is refused when write-back is on",
          "[api][config]") {
  ConfigFile https_without_token(
      "repo: {url: \"https://git.example/deploy.git\"}\n"
      "gitWriteBack: {onAbort: revert, author: \"Sluice <s@example.com>\"}\n");
  auto refused = https_without_token.resolve();
  REQUIRE_FALSE(refused.is_ok());
  CHECK_THAT(refused.status().message(),
             Catch::Contains(https_without_token.path + ":2: gitWriteBack.onAbort is revert, but "
                                                        "Sluice only reads its repository"));
  CHECK_THAT(refused.status().message(), Catch::Contains("without a token"));

  // Off by default: the server starts, and Rollouts asking for revert are refused with the reason.
  ConfigFile off("repo: {url: \"https://git.example/deploy.git\"}\n"
                 "gitWriteBack: {onAbort: none, author: \"Sluice <s@example.com>\"}\n");
  auto started = off.resolve();
  REQUIRE(started.is_ok());
  CHECK_THAT(started->git_write_back_refused, Catch::Contains("without a token"));

  ConfigFile with_token("repo: {url: \"https://git.example/deploy.git\", passwordFile: /t}\n"
                        "gitWriteBack: {onAbort: revert, author: \"Sluice <s@example.com>\"}\n");
  auto ok = with_token.resolve();
  REQUIRE(ok.is_ok());
  CHECK(ok->git_write_back_refused.empty());
  CHECK(ok->repo_credentials.password_file == "/t");

  ConfigFile none("repo: /srv/repo\n");
  auto no_section = none.resolve();
  REQUIRE(no_section.is_ok());
  CHECK_FALSE(no_section->git_write_back);
  CHECK_THAT(no_section->git_write_back_refused, Catch::Contains("no gitWriteBack section"));

  ConfigFile missing_key("repo: /srv/repo\n"
                         "gitWriteBack: {author: \"Sluice <s@example.com>\", "
                         "signingKeyFile: /nonexistent/key}\n");
  auto unreadable = missing_key.resolve();
  REQUIRE_FALSE(unreadable.is_ok());
  CHECK_THAT(unreadable.status().message(),
             Catch::Contains("gitWriteBack.signingKeyFile /nonexistent/key cannot be read"));
}
