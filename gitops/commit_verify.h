// Signed-commit verification (server config `repo: {verify: {mode: ssh|gpg, ...}}`): Sluice
// applies only a head commit whose signature verifies against the trusted keys.
//
// The signature and the signed data (the commit object without its `gpgsig` header) are
// extracted with libgit2 (git_commit_extract_signature) and checked by Debian's own tools, run as
// argv arrays (gitops/run_tool.h) with a bounded timeout in a private temp dir:
//  - ssh: `ssh-keygen -Y find-principals -f ALLOWED -s SIG`, then for each principal found
//    `ssh-keygen -Y verify -n git -f ALLOWED -I PRINCIPAL -s SIG < DATA` (what git runs for
//    gpg.format=ssh); a signature with no trusted principal is told apart from a broken one with
//    `ssh-keygen -Y check-novalidate -n git -s SIG < DATA`. Keys are checked at the current time
//    (valid-after/valid-before of the allowed signers file), never at the commit's own date,
//    which its author chooses.
//  - gpg: `gpgv --homedir PRIVATE --status-fd 1 --keyring KEYRING SIG DATA`. The status lines
//    decide (one NEWSIG, GOODSIG and VALIDSIG, no BADSIG/ERRSIG/EXPKEYSIG/REVKEYSIG/EXPSIG),
//    together with exit code 0; the exit code alone is never trusted.
//
// Blocking (spawns processes): call it on the watcher's fetch thread, never on the strand.
#pragma once

#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/status.h"

struct git_repository;

namespace sluice::gitops {

enum class VerifyMode { kOff, kSsh, kGpg };
const char* verify_mode_name(VerifyMode mode);  // "off", "ssh", "gpg"

struct VerifyConfig {
  VerifyMode mode = VerifyMode::kOff;
  // ssh: an OpenSSH allowed signers file (ssh-keygen(1) ALLOWED SIGNERS), as git's
  // gpg.ssh.allowedSignersFile.
  std::string allowed_signers_file;
  // gpg: a binary OpenPGP keyring (`gpg --export KEYID... > FILE`); every key in it is trusted.
  std::string keyring;
  Duration timeout{10'000};  // per tool run
  std::string temp_root;     // parent of the private temp dirs; "" = the system temp dir
  bool enabled() const { return mode != VerifyMode::kOff; }
};

// Why a commit was refused. Stable strings for the API and logs.
inline constexpr std::string_view kUnsigned = "unsigned";
inline constexpr std::string_view kUntrusted = "untrusted";        // valid, key not trusted
inline constexpr std::string_view kBadSignature = "bad-signature";  // does not match the commit
inline constexpr std::string_view kExpiredKey = "expired-key";
inline constexpr std::string_view kRevokedKey = "revoked-key";
inline constexpr std::string_view kWrongFormat = "wrong-format";  // e.g. OpenPGP in ssh mode

struct SignatureVerdict {
  bool verified = false;
  std::string reason;  // "" when verified; else one of the k* reasons above
  // Who signed, as the trusted keys name them: the allowed signers principal (ssh) or the key's
  // user id (gpg). "" when nobody trusted is known to have signed (unsigned, untrusted).
  std::string signer;
  // The signing key: "SHA256:..." (ssh) or the primary key's fingerprint (gpg); "" when unknown.
  std::string key;
  std::string message;  // one sentence for people: what was checked and what failed
  bool operator==(const SignatureVerdict&) const = default;
};

// Checks `signature` over `signed_data` per config. A verdict (verified or refused) is about the
// commit; an error means the check could not be made (the tool is missing, timed out, a temp dir
// could not be written) and is worth retrying.
Result<SignatureVerdict> verify_signature(const VerifyConfig& config, std::string_view signature,
                                          std::string_view signed_data);

// Extracts the commit's signature with libgit2 and checks it (an unsigned commit is a kUnsigned
// verdict). Errors: the commit cannot be read, or the check could not be made.
Result<SignatureVerdict> verify_commit(git_repository* repo, const std::string& sha,
                                       const VerifyConfig& config);

// At startup: the trust file is readable (and, for gpg, a binary keyring, not an armored
// export), and the tool (ssh-keygen or gpgv) is installed. The message names the file or tool.
Status check_verify_config(const VerifyConfig& config);

}  // namespace sluice::gitops
