// Signed-commit verification against real keys and real commits signed by git: ssh-keygen -Y and
// gpgv decide, run by gitops/commit_verify as argv arrays.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>

#include "gitops/commit_verify.h"
#include "gitops/repository.h"
#include "gitops/run_tool.h"
#include "signing_fixture.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;

namespace {

SignatureVerdict verdict_of(const WorkRepo& work, const std::string& sha,
                            const VerifyConfig& config) {
  auto repo = GitRepository::open_existing(work.dir.string());
  REQUIRE(repo.is_ok());
  auto verdict = verify_commit((*repo)->raw(), sha, config);
  INFO(verdict.status().message());
  REQUIRE(verdict.is_ok());
  INFO(verdict->message);
  return *verdict;
}

}  // namespace

TEST_CASE("ssh: a commit signed by a trusted key verifies and others are refused with the reason",
          "[gitops][verify][ssh]") {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  SshKey alice(tmp.path / "keys", "alice");
  SshKey mallory(tmp.path / "keys", "mallory");
  const fs::path allowed = tmp.path / "allowed_signers";
  write_allowed_signers(allowed, {{"alice@example.com", &alice}});
  VerifyConfig config;
  config.mode = VerifyMode::kSsh;
  config.allowed_signers_file = allowed.string();
  REQUIRE(check_verify_config(config).is_ok());

  work.write("svc/a.yaml", rollout_yaml("a", 1, "1"));
  const std::string trusted = commit_ssh_signed(work, alice, "signed by alice");
  const SignatureVerdict good = verdict_of(work, trusted, config);
  CHECK(good.verified);
  CHECK(good.reason.empty());
  CHECK(good.signer == "alice@example.com");
  CHECK(good.key == alice.fingerprint);

  work.write("svc/a.yaml", rollout_yaml("a", 1, "2"));
  const std::string unsigned_sha = work.commit("not signed");
  const SignatureVerdict none = verdict_of(work, unsigned_sha, config);
  CHECK_FALSE(none.verified);
  CHECK(none.reason == kUnsigned);
  CHECK(none.signer.empty());
  CHECK(none.key.empty());

  work.write("svc/a.yaml", rollout_yaml("a", 1, "3"));
  const std::string by_mallory = commit_ssh_signed(work, mallory, "signed by mallory");
  const SignatureVerdict untrusted = verdict_of(work, by_mallory, config);
  CHECK_FALSE(untrusted.verified);
  CHECK(untrusted.reason == kUntrusted);
  CHECK(untrusted.signer.empty());
  CHECK(untrusted.key == mallory.fingerprint);

  // alice's signature on a commit whose tree someone else swapped.
  commit_ssh_signed(work, alice, "alice signs 4");
  work.write("svc/a.yaml", rollout_yaml("a", 9, "evil"));
  const std::string tampered = tamper_head_tree(work);
  const SignatureVerdict bad = verdict_of(work, tampered, config);
  CHECK_FALSE(bad.verified);
  CHECK(bad.reason == kBadSignature);
  CHECK(bad.signer.empty());

  // Trust is read from the file at each check: alice removed, her commit is refused.
  write_allowed_signers(allowed, {{"mallory@example.com", &mallory}});
  CHECK(verdict_of(work, trusted, config).reason == kUntrusted);
  CHECK(verdict_of(work, by_mallory, config).signer == "mallory@example.com");
}

TEST_CASE("gpg: gpgv status lines decide and bad heads are refused with their reason",
          "[gitops][verify][gpg]") {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  GpgHome bob(tmp.path / "bob-gnupg", "Bob <bob@example.com>");
  GpgHome eve(tmp.path / "eve-gnupg", "Eve <eve@example.com>");
  const fs::path keyring = tmp.path / "trusted.gpg";
  bob.export_keyring(keyring);
  VerifyConfig config;
  config.mode = VerifyMode::kGpg;
  config.keyring = keyring.string();
  REQUIRE(check_verify_config(config).is_ok());

  work.write("svc/a.yaml", rollout_yaml("a", 1, "1"));
  const std::string trusted = commit_gpg_signed(work, bob, "signed by bob");
  const SignatureVerdict good = verdict_of(work, trusted, config);
  CHECK(good.verified);
  CHECK(good.signer == "Bob <bob@example.com>");
  CHECK(good.key == bob.fingerprint);

  work.write("svc/a.yaml", rollout_yaml("a", 1, "2"));
  CHECK(verdict_of(work, work.commit("not signed"), config).reason == kUnsigned);

  work.write("svc/a.yaml", rollout_yaml("a", 1, "3"));
  const SignatureVerdict untrusted =
      verdict_of(work, commit_gpg_signed(work, eve, "signed by eve"), config);
  CHECK_FALSE(untrusted.verified);
  CHECK(untrusted.reason == kUntrusted);
  CHECK(untrusted.signer.empty());
  CHECK(untrusted.key == eve.fingerprint);

  commit_gpg_signed(work, bob, "bob signs 4");
  work.write("svc/a.yaml", rollout_yaml("a", 9, "evil"));
  const SignatureVerdict bad = verdict_of(work, tamper_head_tree(work), config);
  CHECK_FALSE(bad.verified);
  CHECK(bad.reason == kBadSignature);

  SshKey alice(tmp.path / "keys", "alice");
  work.write("svc/a.yaml", rollout_yaml("a", 1, "5"));
  const SignatureVerdict wrong =
      verdict_of(work, commit_ssh_signed(work, alice, "ssh-signed"), config);
  CHECK(wrong.reason == kWrongFormat);

  // And an OpenPGP signature where SSH ones are expected.
  const fs::path allowed = tmp.path / "allowed_signers";
  write_allowed_signers(allowed, {{"alice@example.com", &alice}});
  VerifyConfig ssh;
  ssh.mode = VerifyMode::kSsh;
  ssh.allowed_signers_file = allowed.string();
  CHECK(verdict_of(work, trusted, ssh).reason == kWrongFormat);
}

TEST_CASE("verify config is checked at startup: trust file and binary keyring",
          "[gitops][verify]") {
  TempDir tmp;
  VerifyConfig ssh;
  ssh.mode = VerifyMode::kSsh;
  ssh.allowed_signers_file = (tmp.path / "missing").string();
  Status st = check_verify_config(ssh);
  CHECK_FALSE(st.is_ok());
  CHECK_THAT(st.message(), Catch::Contains("missing") && Catch::Contains("allowedSignersFile"));

  VerifyConfig gpg;
  gpg.mode = VerifyMode::kGpg;
  gpg.keyring = (tmp.path / "armored.asc").string();
  std::ofstream(gpg.keyring) << "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n";
  st = check_verify_config(gpg);
  CHECK_FALSE(st.is_ok());
  CHECK_THAT(st.message(), Catch::Contains("ASCII-armored"));

  CHECK(check_verify_config(VerifyConfig{}).is_ok());  // off
}

TEST_CASE("run_tool: argv and output and exit code and a hung program is killed at the timeout",
          "[gitops][verify]") {
  ToolRequest echo;
  echo.argv = {"echo", "out", "$(HOME)"};  // no shell: the argument is printed as written
  auto ran = run_tool(echo);
  REQUIRE(ran.is_ok());
  CHECK(ran->exit_code == 0);
  CHECK(ran->out == "out $(HOME)\n");

  ToolRequest fails;
  fails.argv = {"ls", "/sluice-no-such-dir"};
  fails.env = {"LC_ALL=C"};
  ran = run_tool(fails);
  REQUIRE(ran.is_ok());
  CHECK(ran->exit_code == 2);
  CHECK_THAT(ran->err, Catch::Contains("sluice-no-such-dir"));
  CHECK(ran->out.empty());

  ToolRequest hang;
  hang.argv = {"sleep", "30"};
  hang.timeout = Duration(300);
  const auto start = std::chrono::steady_clock::now();
  auto hung = run_tool(hang);
  CHECK_FALSE(hung.is_ok());
  CHECK(hung.status().code() == StatusCode::kDeadlineExceeded);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));  // liveness

  ToolRequest missing;
  missing.argv = {"sluice-no-such-program"};
  CHECK_FALSE(run_tool(missing).is_ok());
}
