// ssh_sign_commit, as Git write-back uses it: a commit object made with libgit2, signed by
// ssh-keygen, written with git_commit_create_with_signature. git itself (verify-commit with
// gpg.format=ssh) and Sluice's verifier must both accept it.
#include <git2.h>

#include <catch2/catch.hpp>

#include "gitops/commit_signing.h"
#include "gitops/commit_verify.h"
#include "gitops/repository.h"
#include "signing_fixture.h"

using namespace sluice;
using namespace sluice::gitops;
using namespace gitops_test;

namespace {

// A commit on top of HEAD with HEAD's tree, signed by `sign`; main is moved to it. Returns the sha.
template <typename SignFn>
std::string libgit2_signed_commit(const WorkRepo& work, SignFn sign) {
  auto opened = GitRepository::open_existing(work.dir.string());
  REQUIRE(opened.is_ok());
  git_repository* repo = (*opened)->raw();
  git_oid head_oid;
  REQUIRE(git_reference_name_to_id(&head_oid, repo, "HEAD") == 0);
  git_commit* parent = nullptr;
  REQUIRE(git_commit_lookup(&parent, repo, &head_oid) == 0);
  git_tree* tree = nullptr;
  REQUIRE(git_commit_tree(&tree, parent) == 0);
  git_signature* who = nullptr;
  REQUIRE(git_signature_new(&who, "Sluice", "sluice@example.com", 1'800'000'000, 0) == 0);
  git_buf content = GIT_BUF_INIT;
  const git_commit* parents[] = {parent};
  REQUIRE(git_commit_create_buffer(&content, repo, who, who, nullptr,
                                   "Revert \"orders 2\"\n\nrollout orders aborted\n", tree, 1,
                                   parents) == 0);
  const std::string unsigned_object(content.ptr, content.size);
  git_buf_dispose(&content);
  git_signature_free(who);
  git_tree_free(tree);
  git_commit_free(parent);

  Result<std::string> signature = sign(unsigned_object);
  INFO(signature.status().message());
  REQUIRE(signature.is_ok());
  git_oid oid;
  REQUIRE(git_commit_create_with_signature(&oid, repo, unsigned_object.c_str(),
                                           signature->c_str(), nullptr) == 0);
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof hex, &oid);
  work.git({"update-ref", "refs/heads/main", hex});
  return hex;
}

}  // namespace

TEST_CASE("ssh_sign_commit: a libgit2 commit it signed passes git verify-commit and the verifier",
          "[gitops][signing][ssh]") {
  TempDir tmp;
  WorkRepo work(tmp.path / "work");
  work.write("svc/a.yaml", rollout_yaml("a", 1, "1"));
  work.commit("first");
  SshKey sluice_key(tmp.path / "keys", "sluice");
  const fs::path allowed = tmp.path / "allowed_signers";
  write_allowed_signers(allowed, {{"sluice@example.com", &sluice_key}});

  const std::string sha = libgit2_signed_commit(work, [&](const std::string& object) {
    return ssh_sign_commit(object, sluice_key.private_key.string());
  });

  std::string out;
  const int git_verdict = git_env(work,
                                  {"-c", "gpg.format=ssh", "-c",
                                   "gpg.ssh.allowedSignersFile=" + allowed.string(),
                                   "verify-commit", "-v", sha},
                                  {}, &out);
  INFO(out);
  CHECK(git_verdict == 0);
  CHECK_THAT(out, Catch::Contains("Good \"git\" signature for sluice@example.com"));
  // The header is written as git writes it: no continuation line of only a space at its end.
  std::string object;
  git_env(work, {"cat-file", "commit", sha}, {}, &object);
  CHECK_THAT(object, Catch::Contains(" -----END SSH SIGNATURE-----\n\nRevert"));

  VerifyConfig config;
  config.mode = VerifyMode::kSsh;
  config.allowed_signers_file = allowed.string();
  auto repo = GitRepository::open_existing(work.dir.string());
  REQUIRE(repo.is_ok());
  auto verdict = verify_commit((*repo)->raw(), sha, config);
  REQUIRE(verdict.is_ok());
  CHECK(verdict->verified);
  CHECK(verdict->signer == "sluice@example.com");
  CHECK(verdict->key == sluice_key.fingerprint);
}

TEST_CASE("ssh_sign_commit: a refused key is an error naming the file but not its content",
          "[gitops][signing][ssh]") {
  TempDir tmp;
  SshKey key(tmp.path / "keys", "loose");
  std::string private_text;
  {
    std::ifstream in(key.private_key);
    private_text.assign(std::istreambuf_iterator<char>(in), {});
  }
  fs::permissions(key.private_key, fs::perms::others_read | fs::perms::group_read,
                  fs::perm_options::add);
  auto signed_by_loose = ssh_sign_commit("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n",
                                         key.private_key.string());
  REQUIRE_FALSE(signed_by_loose.is_ok());
  CHECK_THAT(signed_by_loose.status().message(),
             Catch::Contains(key.private_key.string()) && Catch::Contains("too open"));
  CHECK(signed_by_loose.status().message().find(private_text.substr(40, 40)) == std::string::npos);

  auto missing = ssh_sign_commit("x", (tmp.path / "no-key").string());
  CHECK_FALSE(missing.is_ok());
}
