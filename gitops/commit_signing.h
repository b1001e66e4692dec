// Signing a commit Sluice writes itself (Git write-back's revert, gitops/ of issue 21), so that a
// repository whose readers verify signatures (repo.verify, gitops/commit_verify.h; git
// verify-commit with gpg.format=ssh) accepts it.
//
// Use with libgit2:
//   git_commit_create_buffer(&content, repo, ...);                 // the unsigned commit object
//   auto sig = ssh_sign_commit(std::string(content.ptr, content.size), key_file);
//   git_commit_create_with_signature(&oid, repo, content.ptr, sig->c_str(), nullptr);
//
// Blocking (runs ssh-keygen): call it from a worker thread, never on the controller strand.
#pragma once

#include <string>

#include "base/clock.h"
#include "base/status.h"

namespace sluice::gitops {

// Signs `commit_content` (a commit object as git_commit_create_buffer returns it) with the SSH
// private key in `private_key_file`: `ssh-keygen -Y sign -n git -f KEY` over the content, the
// same signature git makes with gpg.format=ssh. Returns the armored signature
// ("-----BEGIN SSH SIGNATURE-----\n...\n-----END SSH SIGNATURE-----", without a trailing newline,
// so libgit2 writes the gpgsig header byte for byte as git does).
// The key must have no passphrase (ssh-keygen runs without a terminal and would fail) and be
// readable only by its owner (ssh-keygen refuses others). Errors name the key file and
// ssh-keygen's reason; the key's content never appears in them. ssh-keygen gets
// kSshSignTimeout, then it is killed and the call fails.
inline constexpr Duration kSshSignTimeout{10'000};
Result<std::string> ssh_sign_commit(const std::string& commit_content,
                                    const std::string& private_key_file);

}  // namespace sluice::gitops
