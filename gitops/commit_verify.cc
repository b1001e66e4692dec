#include "gitops/commit_verify.h"

#include <git2.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "gitops/repository.h"
#include "gitops/run_tool.h"

namespace sluice::gitops {
namespace fs = std::filesystem;

namespace {

// More principals than this for one key is a misconfigured allowed signers file, not a reason
// to run ssh-keygen without bound.
constexpr size_t kMaxPrincipals = 16;

enum class SignatureFormat { kSsh, kOpenPgp, kOther };

SignatureFormat format_of(std::string_view signature) {
  if (signature.starts_with("-----BEGIN SSH SIGNATURE-----")) return SignatureFormat::kSsh;
  if (signature.starts_with("-----BEGIN PGP SIGNATURE-----")) return SignatureFormat::kOpenPgp;
  return SignatureFormat::kOther;
}

const char* format_name(SignatureFormat format) {
  switch (format) {
    case SignatureFormat::kSsh:
      return "an SSH signature";
    case SignatureFormat::kOpenPgp:
      return "an OpenPGP signature";
    case SignatureFormat::kOther:
      break;
  }
  return "a signature of another kind (x509?)";
}

SignatureVerdict refused(std::string_view reason, std::string message) {
  SignatureVerdict v;
  v.reason = std::string(reason);
  v.message = std::move(message);
  return v;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The first line a tool printed on stderr, for a message ("" when silent).
std::string first_line(const std::string& text) {
  auto lines = lines_of(text);
  return lines.empty() ? "" : lines.front();
}

// "... with ED25519 key SHA256:abc" -> "SHA256:abc".
std::string key_after(const std::string& line) {
  const size_t at = line.rfind(" key ");
  return at == std::string::npos ? "" : line.substr(at + 5);
}

std::vector<std::string> tool_env(const PrivateTempDir& dir) {
  // LC_ALL=C keeps the output the parser reads in English; HOME keeps the tools away from the
  // service account's own ~/.ssh and ~/.gnupg.
  return {"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + dir.path()};
}

Result<SignatureVerdict> verify_ssh(const VerifyConfig& config, const PrivateTempDir& dir,
                                    const std::string& sig_file, const std::string& data_file) {
  const std::string& allowed = config.allowed_signers_file;
  ToolRequest find;
  find.argv = {"ssh-keygen", "-Y", "find-principals", "-f", allowed, "-s", sig_file};
  find.env = tool_env(dir);
  find.working_dir = dir.path();
  find.timeout = config.timeout;
  auto found = run_tool(find);
  if (!found) return found.status();
  std::vector<std::string> principals;
  if (found->exited_zero()) principals = lines_of(found->out);
  if (principals.size() > kMaxPrincipals) principals.resize(kMaxPrincipals);

  if (principals.empty()) {
    // No trusted principal has this key. Is it a good signature by an unknown key, or no good
    // signature at all?
    ToolRequest check;
    check.argv = {"ssh-keygen", "-Y", "check-novalidate", "-n", "git", "-s", sig_file};
    check.env = tool_env(dir);
    check.working_dir = dir.path();
    check.stdin_file = data_file;
    check.timeout = config.timeout;
    auto checked = run_tool(check);
    if (!checked) return checked.status();
    const std::string good = first_line(checked->out);
    if (checked->exited_zero() && good.starts_with("Good \"git\" signature")) {
      // find-principals says "No principal matched." for an unknown key; anything else (a
      // malformed allowed signers file) is worth showing.
      const std::string find_error = first_line(found->err);
      SignatureVerdict v = refused(
          kUntrusted,
          fmt::format("signed by {}, which is not in the allowed signers file {}{}",
                      key_after(good).empty() ? "an unknown key" : key_after(good), allowed,
                      find_error.empty() || find_error == "No principal matched."
                          ? ""
                          : " (ssh-keygen: " + find_error + ")"));
      v.key = key_after(good);
      return v;
    }
    const std::string why = first_line(checked->err);
    return refused(kBadSignature, fmt::format("the SSH signature is not valid for this commit{}",
                                              why.empty() ? "" : " (ssh-keygen: " + why + ")"));
  }

  std::string last_error;
  for (const auto& principal : principals) {
    ToolRequest verify;
    verify.argv = {"ssh-keygen", "-Y", "verify", "-n", "git", "-f", allowed,
                   "-I", principal, "-s", sig_file};
    verify.env = tool_env(dir);
    verify.working_dir = dir.path();
    verify.stdin_file = data_file;
    verify.timeout = config.timeout;
    auto verified = run_tool(verify);
    if (!verified) return verified.status();
    const std::string good = first_line(verified->out);
    // Both the exit code and ssh-keygen's own verdict line, naming the principal we asked for.
    if (verified->exited_zero() &&
        good.starts_with("Good \"git\" signature for " + principal + " with ")) {
      SignatureVerdict v;
      v.verified = true;
      v.signer = principal;
      v.key = key_after(good);
      v.message = fmt::format("good SSH signature by {} ({})", principal, v.key);
      return v;
    }
    last_error = first_line(verified->err);
  }
  SignatureVerdict v = refused(
      kBadSignature,
      fmt::format("the SSH signature of {} does not verify for this commit{}", principals.front(),
                  last_error.empty() ? "" : " (ssh-keygen: " + last_error + ")"));
  // The key is trusted but the signature does not cover this content: nobody signed it.
  return v;
}

// One "[GNUPG:] KEYWORD args..." line split on spaces; the user id keeps its spaces.
struct StatusLine {
  std::string keyword;
  std::vector<std::string> args;
  std::string rest_after_first;  // everything after the first argument (a user id)
};

std::vector<StatusLine> gnupg_status(const std::string& out) {
  std::vector<StatusLine> lines;
  constexpr std::string_view kPrefix = "[GNUPG:] ";
  for (const auto& line : lines_of(out)) {
    if (!std::string_view(line).starts_with(kPrefix)) continue;
    StatusLine s;
    std::istringstream in(line.substr(kPrefix.size()));
    in >> s.keyword;
    for (std::string word; in >> word;) s.args.push_back(word);
    const std::string body = line.substr(kPrefix.size() + s.keyword.size());
    const size_t first = body.find_first_not_of(' ');
    if (first != std::string::npos) {
      const size_t space = body.find(' ', first);
      if (space != std::string::npos) s.rest_after_first = body.substr(space + 1);
    }
    lines.push_back(std::move(s));
  }
  return lines;
}

Result<SignatureVerdict> verify_gpg(const VerifyConfig& config, const PrivateTempDir& dir,
                                    const std::string& sig_file, const std::string& data_file) {
  // The keyring must hold a '/', or gpgv looks for it in its home dir.
  std::error_code ec;
  const fs::path absolute = fs::absolute(config.keyring, ec);
  const std::string keyring = ec ? config.keyring : absolute.string();
  ToolRequest request;
  request.argv = {"gpgv", "--homedir", dir.path(), "--status-fd", "1", "--keyring", keyring,
                  sig_file, data_file};
  request.env = tool_env(dir);
  request.working_dir = dir.path();
  request.timeout = config.timeout;
  auto ran = run_tool(request);
  if (!ran) return ran.status();

  int signatures = 0;
  std::string good_uid, good_keyid, valid_fpr, primary_fpr, bad_uid, missing_key;
  std::string_view refusal;
  std::string refusal_uid;
  for (const auto& s : gnupg_status(ran->out)) {
    if (s.keyword == "NEWSIG") {
      ++signatures;
    } else if (s.keyword == "GOODSIG" && !s.args.empty()) {
      good_keyid = s.args[0];
      good_uid = s.rest_after_first;
    } else if (s.keyword == "VALIDSIG" && !s.args.empty()) {
      valid_fpr = s.args[0];
      primary_fpr = s.args.size() >= 10 ? s.args[9] : s.args[0];
    } else if (s.keyword == "BADSIG") {
      refusal = kBadSignature;
      bad_uid = s.rest_after_first;
    } else if (s.keyword == "ERRSIG" && !s.args.empty()) {
      // rc 9: no public key, i.e. signed by a key outside the keyring.
      if (s.args.size() >= 6 && s.args[5] == "9") {
        if (refusal.empty()) refusal = kUntrusted;
        missing_key = s.args.size() >= 7 ? s.args[6] : s.args[0];
      } else {
        refusal = kBadSignature;
      }
    } else if (s.keyword == "NO_PUBKEY" && !s.args.empty()) {
      if (refusal.empty()) refusal = kUntrusted;
      if (missing_key.empty()) missing_key = s.args[0];
    } else if (s.keyword == "EXPKEYSIG") {
      refusal = kExpiredKey;
      refusal_uid = s.rest_after_first;
    } else if (s.keyword == "REVKEYSIG") {
      refusal = kRevokedKey;
      refusal_uid = s.rest_after_first;
    } else if (s.keyword == "EXPSIG") {
      refusal = kExpiredKey;
      refusal_uid = s.rest_after_first;
    }
  }
  const std::string stderr_line = first_line(ran->err);
  if (signatures != 1) {
    return refused(kBadSignature,
                   fmt::format("the OpenPGP signature holds {} signatures, not one{}", signatures,
                               stderr_line.empty() ? "" : " (" + stderr_line + ")"));
  }
  if (refusal == kUntrusted) {
    SignatureVerdict v = refused(
        kUntrusted, fmt::format("signed by key {}, which is not in the keyring {}",
                                missing_key.empty() ? "?" : missing_key, config.keyring));
    v.key = missing_key;
    return v;
  }
  if (refusal == kBadSignature) {
    SignatureVerdict v = refused(
        kBadSignature,
        fmt::format("the OpenPGP signature{} does not verify for this commit",
                    bad_uid.empty() ? "" : " of " + bad_uid));
    return v;
  }
  if (!refusal.empty()) {
    SignatureVerdict v = refused(
        refusal, fmt::format("signed by {} with a key that is {}", refusal_uid,
                             refusal == kRevokedKey ? "revoked" : "expired (or the signature is)"));
    return v;
  }
  if (ran->exited_zero() && !good_uid.empty() && !valid_fpr.empty()) {
    SignatureVerdict v;
    v.verified = true;
    v.signer = good_uid;
    v.key = primary_fpr;
    v.message = fmt::format("good OpenPGP signature by {} ({})", good_uid, primary_fpr);
    return v;
  }
  return refused(kBadSignature,
                 fmt::format("gpgv did not report a good signature ({}{})",
                             ran->exit_code ? "exit code " + std::to_string(*ran->exit_code)
                                            : "killed",
                             stderr_line.empty() ? "" : ": " + stderr_line));
}

Status check_readable(const std::string& file, const std::string& what) {
  if (file.empty()) return invalid_argument(what + " is required");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return invalid_argument(what + " " + file + " is not a file");
  std::ifstream in(file, std::ios::binary);
  if (!in) return invalid_argument(what + " " + file + " is not readable");
  return Status::ok();
}

}  // namespace

const char* verify_mode_name(VerifyMode mode) {
  switch (mode) {
    case VerifyMode::kSsh:
      return "ssh";
    case VerifyMode::kGpg:
      return "gpg";
    case VerifyMode::kOff:
      break;
  }
  return "off";
}

Result<SignatureVerdict> verify_signature(const VerifyConfig& config, std::string_view signature,
                                          std::string_view signed_data) {
  if (!config.enabled()) return failed_precondition("signature verification is off");
  const SignatureFormat format = format_of(signature);
  const SignatureFormat wanted =
      config.mode == VerifyMode::kSsh ? SignatureFormat::kSsh : SignatureFormat::kOpenPgp;
  if (format != wanted) {
    return refused(kWrongFormat,
                   fmt::format("signed with {}, but repo.verify.mode is {}", format_name(format),
                               verify_mode_name(config.mode)));
  }
  auto dir = PrivateTempDir::create(config.temp_root, "sluice-verify");
  if (!dir) return dir.status();
  auto sig_file = dir->write("signature", signature);
  if (!sig_file) return sig_file.status();
  auto data_file = dir->write("signed-data", signed_data);
  if (!data_file) return data_file.status();
  return config.mode == VerifyMode::kSsh ? verify_ssh(config, *dir, *sig_file, *data_file)
                                         : verify_gpg(config, *dir, *sig_file, *data_file);
}

Result<SignatureVerdict> verify_commit(git_repository* repo, const std::string& sha,
                                       const VerifyConfig& config) {
  git_oid oid;
  if (git_oid_fromstr(&oid, sha.c_str()) != 0) return invalid_argument("not a commit id: " + sha);
  git_commit* commit = nullptr;
  // Looked up first: extract_signature answers GIT_ENOTFOUND both for a missing commit and for
  // an unsigned one.
  if (git_commit_lookup(&commit, repo, &oid) != 0) {
    return not_found("commit " + sha + ": " + last_git_error());
  }
  git_commit_free(commit);
  git_buf signature = GIT_BUF_INIT;
  git_buf signed_data = GIT_BUF_INIT;
  const int rc = git_commit_extract_signature(&signature, &signed_data, repo, &oid, nullptr);
  Result<SignatureVerdict> verdict = refused(kUnsigned, "");
  if (rc == GIT_ENOTFOUND) {
    verdict = refused(kUnsigned, fmt::format("the commit is not signed; repo.verify.mode is {}",
                                             verify_mode_name(config.mode)));
  } else if (rc != 0) {
    verdict = data_loss("commit " + sha + ": cannot read its signature: " + last_git_error());
  } else {
    verdict = verify_signature(config, std::string_view(signature.ptr, signature.size),
                               std::string_view(signed_data.ptr, signed_data.size));
  }
  git_buf_dispose(&signature);
  git_buf_dispose(&signed_data);
  return verdict;
}

Status check_verify_config(const VerifyConfig& config) {
  switch (config.mode) {
    case VerifyMode::kOff:
      return Status::ok();
    case VerifyMode::kSsh: {
      if (Status st = check_readable(config.allowed_signers_file, "repo.verify.allowedSignersFile");
          !st.is_ok())
        return st;
      if (auto tool = find_in_path("ssh-keygen"); !tool) {
        return failed_precondition(
            "repo.verify.mode ssh needs ssh-keygen (Debian package openssh-client): " +
            tool.status().message());
      }
      return Status::ok();
    }
    case VerifyMode::kGpg: {
      if (Status st = check_readable(config.keyring, "repo.verify.keyring"); !st.is_ok()) return st;
      std::ifstream in(config.keyring, std::ios::binary);
      std::string head(10, '\0');
      in.read(head.data(), static_cast<std::streamsize>(head.size()));
      head.resize(static_cast<size_t>(in.gcount()));
      if (head == "-----BEGIN") {
        return invalid_argument("repo.verify.keyring " + config.keyring +
                                " is an ASCII-armored export; gpgv needs a binary keyring "
                                "(gpg --export KEYID > FILE, or gpg --dearmor)");
      }
      if (head.empty()) {
        return invalid_argument("repo.verify.keyring " + config.keyring + " is empty");
      }
      if (auto tool = find_in_path("gpgv"); !tool) {
        return failed_precondition("repo.verify.mode gpg needs gpgv (Debian package gpgv): " +
                                   tool.status().message());
      }
      return Status::ok();
    }
  }
  return Status::ok();
}

}  // namespace sluice::gitops
