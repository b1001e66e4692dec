// Small-file reading for credentials (kubeconfig, certificates, keys, tokens), shared by the
// kubeconfig loader and the token source. Internal to kube/.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace sluice::kube {

// Files larger than this are refused: credentials are a few KiB.
inline constexpr size_t kMaxCredentialFileBytes = 16 << 20;

// The whole file. Errors read "cannot read PATH: <strerror>" (kNotFound for ENOENT,
// kPermissionDenied for EACCES, else kInvalidArgument) and never quote the contents.
Result<std::string> read_credential_file(const std::string& path);

// s without leading and trailing whitespace.
std::string_view trim_space(std::string_view s);

// True when a token can go into an HTTP header as is: not empty, no whitespace or control bytes.
bool is_valid_token(std::string_view token);

}  // namespace sluice::kube
