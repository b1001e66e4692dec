#include "api/auth.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace sluice::api {
namespace {

std::array<unsigned char, 32> sha256(std::string_view data) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

}  // namespace

std::optional<Role> parse_role(std::string_view text) {
  if (text == "viewer") return Role::kViewer;
  if (text == "deployer") return Role::kDeployer;
  if (text == "admin") return Role::kAdmin;
  return std::nullopt;
}

const char* role_name(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kDeployer:
      return "deployer";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::string default_token_name(std::string_view token) {
  static const char* kHex = "0123456789abcdef";
  auto digest = sha256(token);
  std::string out = "token-";
  for (int i = 0; i < 4; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xF]);
  }
  return out;
}

Status Authenticator::add_token(std::string_view token, Role role, std::string name) {
  if (token.size() < kMinTokenLength)
    return invalid_argument("token too short: tokens need at least " +
                            std::to_string(kMinTokenLength) +
                            " characters (for example `openssl rand -hex 32`)");
  for (char c : token) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      return invalid_argument("token contains whitespace or control characters");
  }
  if (name.empty()) name = default_token_name(token);
  entries_.push_back(Entry{sha256(token), role, std::move(name)});
  return Status::ok();
}

Status Authenticator::add_auth_file_content(std::string_view content, std::string_view origin) {
  size_t line_no = 0;
  size_t added = 0;
  while (!content.empty()) {
    ++line_no;
    size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content = nl == std::string_view::npos ? std::string_view{} : content.substr(nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    // No field of a line is ever quoted back: which one is the token is what may be wrong.
    auto fields = split_ws(line);
    std::string where = std::string(origin) + ":" + std::to_string(line_no) + ": ";
    if (fields.size() < 2 || fields.size() > 3)
      return invalid_argument(where + "expected 'TOKEN ROLE [NAME]' (" +
                              std::to_string(fields.size()) + " fields)");
    auto role = parse_role(fields[1]);
    if (!role && parse_role(fields[0]))
      return invalid_argument(where + "the role comes first; the format is 'TOKEN ROLE [NAME]'");
    if (!role)
      return invalid_argument(where +
                              "the second field is not a role (viewer, deployer or admin); the "
                              "format is 'TOKEN ROLE [NAME]'");
    Status st = add_token(fields[0], *role, fields.size() == 3 ? std::string(fields[2]) : "");
    if (!st.is_ok()) return invalid_argument(where + st.message());
    ++added;
  }
  if (added == 0)
    return invalid_argument(std::string(origin) +
                            ": no tokens (expected 'TOKEN ROLE [NAME]' lines); an auth file "
                            "without tokens would leave the API open");
  return Status::ok();
}

Status Authenticator::load_auth_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument("cannot read auth file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return add_auth_file_content(ss.str(), path);
}

Result<Identity> Authenticator::authenticate(std::string_view authorization_header) const {
  if (!enabled()) return Identity{"anonymous", Role::kAdmin};
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization_header.size() <= kBearer.size() ||
      authorization_header.substr(0, kBearer.size()) != kBearer) {
    return Status(StatusCode::kUnauthenticated, "missing bearer token");
  }
  auto presented = sha256(trim(authorization_header.substr(kBearer.size())));
  const Entry* match = nullptr;
  for (const auto& e : entries_) {
    // No early exit: the time taken does not depend on which entry matched.
    if (CRYPTO_memcmp(e.token_sha256.data(), presented.data(), presented.size()) == 0 && !match)
      match = &e;
  }
  if (!match) return Status(StatusCode::kUnauthenticated, "invalid token");
  return Identity{match->name, match->role};
}

Result<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) return invalid_argument(path + " is empty");
  return s;
}

}  // namespace sluice::api
