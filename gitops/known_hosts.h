// OpenSSH known_hosts verification for ssh:// remotes (called from libgit2's certificate check).
#pragma once

#include <string>

#include "base/status.h"

namespace sluice::gitops {

// OK when known_hosts_file has an entry for host (plain, "[host]:port", or hashed "|1|salt|hash")
// whose key blob equals raw_key (the SSH wire-format public key). @revoked entries reject;
// @cert-authority entries are ignored. Fails with kPermissionDenied naming the host otherwise.
Status verify_known_host(const std::string& known_hosts_file, const std::string& host,
                         const std::string& raw_key);

}  // namespace sluice::gitops
