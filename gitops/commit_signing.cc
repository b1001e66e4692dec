#include "gitops/commit_signing.h"

#include <sstream>

#include <fmt/format.h>

#include "gitops/run_tool.h"

namespace sluice::gitops {

Result<std::string> ssh_sign_commit(const std::string& commit_content,
                                    const std::string& private_key_file) {
  if (private_key_file.empty()) return invalid_argument("ssh signing: no private key file given");
  auto dir = PrivateTempDir::create("", "sluice-sign");
  if (!dir) return dir.status();
  auto content_file = dir->write("commit", commit_content);
  if (!content_file) return content_file.status();
  ToolRequest request;
  // No file argument: ssh-keygen signs standard input and writes the signature to standard
  // output, so nothing is left next to the key.
  request.argv = {"ssh-keygen", "-Y", "sign", "-n", "git", "-f", private_key_file};
  request.env = {"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + dir->path()};
  request.working_dir = dir->path();
  request.stdin_file = *content_file;
  request.timeout = kSshSignTimeout;
  auto ran = run_tool(request);
  if (!ran) return ran.status();
  std::string signature = ran->out;
  while (!signature.empty() && (signature.back() == '\n' || signature.back() == '\r')) {
    signature.pop_back();
  }
  if (!ran->exited_zero() || !signature.starts_with("-----BEGIN SSH SIGNATURE-----") ||
      !signature.ends_with("-----END SSH SIGNATURE-----")) {
    // ssh-keygen's reasons, without its progress line and banners ("Permissions 0644 for 'k'
    // are too open.; ...; No private key found for \"k\"").
    std::string why;
    std::istringstream lines(ran->err);
    for (std::string line; std::getline(lines, line) && why.size() < 300;) {
      if (line.empty() || line.starts_with("@") || line.starts_with("Signing data")) continue;
      why += (why.empty() ? "" : "; ") + line;
    }
    return failed_precondition(fmt::format("ssh signing with {} failed: {}", private_key_file,
                                           why.empty() ? "ssh-keygen printed no signature" : why));
  }
  return signature;
}

}  // namespace sluice::gitops
