// Bearer-token authentication and role checks for the HTTP API.
//
// Tokens come from the config file (auth.tokens) and/or an --auth-file (one "TOKEN ROLE [NAME]"
// per line, '#' starts a comment). Only SHA-256 hashes of tokens are kept in memory; a presented
// token is hashed and compared against every entry with CRYPTO_memcmp, without an early exit.
// Tokens are never logged or put into error messages, not even a field of an auth-file line
// that is in the wrong place (a swapped "ROLE TOKEN" line is named by file:line only).
//
// Strength: a token has at least kMinTokenLength characters and no whitespace or control
// characters. An auth file without any token is an error: it would otherwise leave the API open
// to anyone ("no tokens" means "no auth").
//
// Thread safety: build the Authenticator once, then authenticate() is const and thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sluice::api {

// Ordered: a stronger role can do everything a weaker one can.
enum class Role { kViewer = 1, kDeployer = 2, kAdmin = 3 };
std::optional<Role> parse_role(std::string_view text);
const char* role_name(Role role);

struct Identity {
  std::string name;  // the actor recorded in history
  Role role = Role::kViewer;
};

// The default actor name for a token without one: "token-" + first 8 hex chars of its SHA-256.
std::string default_token_name(std::string_view token);

// The shortest token accepted: 16 characters (`openssl rand -hex 32` gives 64).
inline constexpr size_t kMinTokenLength = 16;

class Authenticator {
 public:
  // Adds a token. A token shorter than kMinTokenLength or holding whitespace or control
  // characters is refused (the message states the rule, never the token); an empty name becomes
  // default_token_name(token).
  Status add_token(std::string_view token, Role role, std::string name);
  // Parses the --auth-file format. `origin` names the file in errors ("auth.txt:3: ..."); content
  // without any token line is an error.
  Status add_auth_file_content(std::string_view content, std::string_view origin);
  Status load_auth_file(const std::string& path);

  // True once any token is configured; when false every call is allowed as "anonymous".
  bool enabled() const { return !entries_.empty(); }
  size_t size() const { return entries_.size(); }

  // Checks an Authorization header value ("Bearer <token>"). Unauthenticated when the header
  // is missing, malformed or the token is unknown. When auth is disabled: {"anonymous", admin}.
  Result<Identity> authenticate(std::string_view authorization_header) const;

 private:
  struct Entry {
    std::array<unsigned char, 32> token_sha256;
    Role role;
    std::string name;
  };
  std::vector<Entry> entries_;
};

// Reads a whole small file (token/secret files). Trailing whitespace and newlines are trimmed.
Result<std::string> read_secret_file(const std::string& path);

}  // namespace sluice::api
