// repo.verify in the serve config: strict, checked at load with the file and line of the field.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "api/config.h"

using namespace sluice::api;
namespace fs = std::filesystem;

namespace {

struct Dir {
  fs::path path = fs::temp_directory_path() /
                  ("sluice-verify-config-" + std::to_string(::getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("config: repo.verify ssh and gpg parse with absolute trust files", "[api][config]") {
  Dir dir;
  const std::string signers = (dir.path / "allowed_signers").string();
  std::ofstream(signers) << "alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n";
  const std::string keyring = (dir.path / "trusted.gpg").string();
  std::ofstream(keyring, std::ios::binary) << std::string("\x99\x00\x33\x04", 4);

  auto ssh = parse_serve_config("repo:\n  url: /r\n  verify: {mode: ssh, allowedSignersFile: " +
                                    signers + "}\n",
                                "sluice.yaml");
  REQUIRE(ssh.is_ok());
  CHECK(ssh->repo_verify.mode == "ssh");
  CHECK(ssh->repo_verify.allowed_signers_file == signers);
  CHECK(ssh->repo_verify.keyring.empty());

  auto gpg = parse_serve_config("repo: {url: /r, verify: {mode: gpg, keyring: " + keyring + "}}\n",
                                "sluice.yaml");
  REQUIRE(gpg.is_ok());
  CHECK(gpg->repo_verify.mode == "gpg");
  CHECK(gpg->repo_verify.keyring == keyring);

  auto off = parse_serve_config("repo: {url: /r}\n", "sluice.yaml");
  REQUIRE(off.is_ok());
  CHECK(off->repo_verify.mode.empty());

  // The file's value reaches the serve options.
  const std::string file = (dir.path / "sluice.yaml").string();
  std::ofstream(file) << "repo: {url: /r, verify: {mode: gpg, keyring: " << keyring << "}}\n";
  ServeFlags flags;
  flags.config_file = file;
  auto options = resolve_serve_options(flags);
  REQUIRE(options.is_ok());
  CHECK(options->repo_verify.mode == "gpg");
  CHECK(options->repo_verify.keyring == keyring);
}

TEST_CASE("config: repo.verify errors name the file and the line and the field", "[api][config]") {
  Dir dir;
  const std::string signers = (dir.path / "allowed_signers").string();
  std::ofstream(signers) << "alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n";
  const std::string armored = (dir.path / "armored.asc").string();
  std::ofstream(armored) << "-----BEGIN PGP PUBLIC KEY BLOCK-----\n";
  const std::string missing = (dir.path / "nope").string();
  struct Case {
    std::string yaml;
    std::string expect;
  };
  const Case cases[] = {
      {"repo:\n  url: /r\n  verify: {allowedSignersFile: " + signers + "}\n",
       "sluice.yaml:3: 'repo.verify.mode' is required"},
      {"repo:\n  url: /r\n  verify: {mode: x509}\n",
       "sluice.yaml:3: 'repo.verify.mode' must be 'ssh' or 'gpg', not 'x509'"},
      {"repo:\n  url: /r\n  verify:\n    mode: ssh\n",
       "sluice.yaml:4: repo.verify: mode ssh needs"},
      {"repo:\n  url: /r\n  verify:\n    mode: gpg\n", "mode gpg needs 'keyring'"},
      {"repo:\n  url: /r\n  verify:\n    mode: ssh\n    allowedSignersFile: " + signers +
           "\n    keyring: " + armored + "\n",
       "sluice.yaml:6: 'repo.verify.keyring' is for mode gpg"},
      {"repo:\n  url: /r\n  verify:\n    mode: ssh\n    allowedSignersFile: " + missing + "\n",
       "sluice.yaml:5: repo.verify.allowedSignersFile " + missing + " is not a file"},
      {"repo:\n  url: /r\n  verify:\n    mode: gpg\n    keyring: " + armored + "\n",
       "sluice.yaml:5: repo.verify.keyring " + armored + " is an ASCII-armored export"},
      {"repo:\n  url: /r\n  verify:\n    mode: ssh\n    allowedSigners: " + signers + "\n",
       "sluice.yaml:5: unknown key 'allowedSigners' in 'repo.verify'"},
      {"repo:\n  url: /r\n  verify: ssh\n", "sluice.yaml:3: 'repo.verify' must be a mapping"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    auto cfg = parse_serve_config(c.yaml, "sluice.yaml");
    REQUIRE_FALSE(cfg.is_ok());
    CHECK_THAT(cfg.status().message(), Catch::Contains(c.expect));
  }
}
