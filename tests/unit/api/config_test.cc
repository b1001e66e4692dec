#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "api/auth.h"
#include "api/config.h"

using namespace sluice::api;

TEST_CASE("config: the contract's example parses", "[api][config]") {
  const char* yaml = R"(
repo: {url: /srv/deploy-repo, branch: main, path: services, poll: 15s}
stateDir: /var/lib/sluice
listen: 127.0.0.1:7070
auth:
  tokens:
    - {name: ci, role: deployer, tokenFile: /etc/sluice/ci.token}
    - {name: ops, role: admin, token: "s3cret"}
webhooks:
  github: {secretFile: /etc/sluice/github.secret}
  gitlab: {tokenFile: /etc/sluice/gitlab.token}
prometheus: {address: "http://127.0.0.1:9090"}
log: {format: json, level: info}
)";
  auto cfg = parse_serve_config(yaml, "sluice.yaml");
  REQUIRE(cfg.is_ok());
  CHECK(cfg->repo_url == "/srv/deploy-repo");
  CHECK(cfg->repo_branch == "main");
  CHECK(cfg->repo_path == "services");
  CHECK(cfg->repo_poll == sluice::Duration(15'000));
  CHECK(cfg->state_dir == "/var/lib/sluice");
  CHECK(cfg->listen == "127.0.0.1:7070");
  REQUIRE(cfg->tokens.size() == 2);
  CHECK(cfg->tokens[0].name == "ci");
  CHECK(cfg->tokens[0].role == "deployer");
  CHECK(cfg->tokens[0].token_file == "/etc/sluice/ci.token");
  CHECK(cfg->tokens[1].token == "s3cret");
  CHECK(cfg->github_secret_file == "/etc/sluice/github.secret");
  CHECK(cfg->gitlab_token_file == "/etc/sluice/gitlab.token");
  CHECK(cfg->prometheus_address == "http://127.0.0.1:9090");
  CHECK(cfg->log_format == "json");
  CHECK(cfg->log_level == "info");
}

TEST_CASE("config: unknown keys and bad values are errors naming key and line", "[api][config]") {
  struct Case {
    const char* yaml;
    const char* expect;
  };
  const Case cases[] = {
      {"repo: {url: x}\nlisten: a\nbogus: 1\n", "sluice.yaml:3: unknown key 'bogus'"},
      {"repo:\n  url: x\n  brnch: main\n", "sluice.yaml:3: unknown key 'brnch' in 'repo'"},
      {"log: {format: xml}\n", "log.format"},
      {"repo: {poll: soon}\n", "repo.poll"},
      {"auth:\n  tokens:\n    - {name: a, role: root, token: t}\n", "unknown role 'root'"},
      {"auth:\n  tokens:\n    - {name: a, role: admin}\n", "exactly one of"},
      {"auth:\n  tokens:\n    - {name: a, role: admin, token: t, colour: red}\n",
       "unknown key 'colour'"},
      {"webhooks: {github: {secret: x}}\n", "unknown key 'secret' in 'webhooks.github'"},
      {"listen: [a, b]\n", "'listen' must be a string"},
      {"repo: {url: x\n", "sluice.yaml:"},
      {"runtime: {maxReplicas: 0}\n", "sluice.yaml:1: 'runtime.maxReplicas' must be a whole"},
      {"runtime: {maxReplicas: 100000}\n", "from 1 to 10000"},
      {"runtime: {maxReplicas: many}\n", "'runtime.maxReplicas'"},
      {"runtime: {replicas: 3}\n", "unknown key 'replicas' in 'runtime'"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    auto cfg = parse_serve_config(c.yaml, "sluice.yaml");
    REQUIRE_FALSE(cfg.is_ok());
    CHECK_THAT(cfg.status().message(), Catch::Contains(c.expect));
  }
}

TEST_CASE("config: flags override the file", "[api][config]") {
  auto dir =
      std::filesystem::temp_directory_path() / ("sluice-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = (dir / "sluice.yaml").string();
  std::ofstream(file) << "repo: {url: /from/file, branch: dev, poll: 30s}\nlisten: "
                         "127.0.0.1:9000\nwebhooks: {github: {secretFile: /file/secret}}\n";
  ServeFlags flags;
  flags.config_file = file;
  flags.branch = "main";
  flags.webhook_secret_file = "/flag/secret";
  auto opts = resolve_serve_options(flags);
  REQUIRE(opts.is_ok());
  CHECK(opts->repo == "/from/file");
  CHECK(opts->branch == "main");
  CHECK(opts->poll == sluice::Duration(30'000));
  CHECK(opts->listen == "127.0.0.1:9000");
  CHECK(opts->github_secret_file == "/flag/secret");

  CHECK(opts->max_replicas == 256);  // the default
  // A relative state dir is made absolute against the working directory: instances and the
  // router process get paths under it, and their working directories differ from serve's.
  CHECK(opts->state_dir == (std::filesystem::current_path() / ".sluice").string());
  ServeFlags relative;
  relative.repo = "/r";
  relative.state_dir = "state/./x/";
  auto made_absolute = resolve_serve_options(relative);
  REQUIRE(made_absolute.is_ok());
  CHECK(made_absolute->state_dir == (std::filesystem::current_path() / "state/x").string());
  std::ofstream(file) << "repo: /from/file\nruntime: {maxReplicas: 40}\n";
  ServeFlags from_file;
  from_file.config_file = file;
  auto limited = resolve_serve_options(from_file);
  REQUIRE(limited.is_ok());
  CHECK(limited->max_replicas == 40);
  from_file.max_replicas = 12;
  limited = resolve_serve_options(from_file);
  REQUIRE(limited.is_ok());
  CHECK(limited->max_replicas == 12);
  from_file.max_replicas = 0;
  CHECK_FALSE(resolve_serve_options(from_file).is_ok());

  ServeFlags no_repo;
  CHECK_FALSE(resolve_serve_options(no_repo).is_ok());
  ServeFlags missing_file;
  missing_file.config_file = (dir / "nope.yaml").string();
  CHECK_FALSE(resolve_serve_options(missing_file).is_ok());
  std::filesystem::remove_all(dir);
}

TEST_CASE("auth file: TOKEN ROLE [NAME], comments, errors with line numbers", "[api][auth]") {
  const std::string tok_a = "tok-a-0123456789abcdef";
  const std::string tok_b = "tok-b-0123456789abcdef";
  Authenticator auth;
  REQUIRE(auth.add_auth_file_content("# tokens\n" + tok_a + " viewer alice\n\n" + tok_b +
                                         " deployer   # ci without a name\n",
                                     "auth.txt")
              .is_ok());
  REQUIRE(auth.size() == 2);
  auto a = auth.authenticate("Bearer " + tok_a);
  REQUIRE(a.is_ok());
  CHECK(a->name == "alice");
  CHECK(a->role == Role::kViewer);
  auto b = auth.authenticate("Bearer " + tok_b);
  REQUIRE(b.is_ok());
  CHECK(b->name == default_token_name(tok_b));
  CHECK(b->name.size() == 6 + 8);
  CHECK(b->role == Role::kDeployer);
  CHECK_FALSE(auth.authenticate("Bearer tok-c-0123456789abcdef").is_ok());
  CHECK_FALSE(auth.authenticate(tok_a).is_ok());
  CHECK_FALSE(auth.authenticate("").is_ok());
  CHECK(auth.authenticate("Bearer tok-c").status().code() == sluice::StatusCode::kUnauthenticated);

  Authenticator bad;
  auto st = bad.add_auth_file_content(tok_a + " viewer\nlonely\n", "auth.txt");
  REQUIRE_FALSE(st.is_ok());
  CHECK_THAT(st.message(), Catch::Contains("auth.txt:2"));
  CHECK_THAT(st.message(), !Catch::Contains("lonely"));  // tokens never echoed
  auto st2 = bad.add_auth_file_content(tok_a + " superuser\n", "auth.txt");
  CHECK_THAT(st2.message(), Catch::Contains("auth.txt:1"));
  CHECK_THAT(st2.message(), Catch::Contains("viewer, deployer or admin"));
}

TEST_CASE("auth disabled allows everyone as anonymous", "[api][auth]") {
  Authenticator auth;
  CHECK_FALSE(auth.enabled());
  auto id = auth.authenticate("");
  REQUIRE(id.is_ok());
  CHECK(id->name == "anonymous");
}
