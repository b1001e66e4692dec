// Webhook authenticity checks for the GitOps source (GitHub and GitLab push hooks).
//
// Contracts:
// - GitHub: the X-Hub-Signature-256 header is "sha256=<64 lowercase or uppercase hex>" and must
//   equal HMAC-SHA256(secret, raw body). There is deliberately no fallback to the SHA-1
//   X-Hub-Signature header.
// - GitLab: the X-Gitlab-Token header must equal the configured token.
// - Every comparison of secret-derived bytes is constant time (CRYPTO_memcmp); a wrong length or
//   malformed header is rejected before any secret is touched.
// Pure functions: thread-safe, no I/O, and never log their inputs.
#pragma once

#include <string>
#include <string_view>

namespace sluice::gitops {

// The header value GitHub would send for `body`: "sha256=" + lowercase hex HMAC-SHA256.
std::string github_signature(std::string_view secret, std::string_view body);

// True when `signature_header` is a valid X-Hub-Signature-256 for `body` under `secret`.
// An empty secret never verifies (a webhook without a configured secret is not trusted).
bool verify_github_signature(std::string_view secret, std::string_view body,
                             std::string_view signature_header);

// True when `token_header` equals `expected`. Both are hashed (SHA-256) first so that the
// comparison takes the same time whatever the lengths. An empty `expected` never verifies.
bool verify_gitlab_token(std::string_view expected, std::string_view token_header);

// Constant-time equality of two equal-length byte strings; false on different lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace sluice::gitops
