#include "gitops/webhook_verify.h"

#include <array>
#include <optional>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace sluice::gitops {
namespace {

using Digest = std::array<unsigned char, 32>;

Digest hmac_sha256(std::string_view key, std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

Digest sha256(std::string_view data) {
  Digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes exactly 64 hex characters; the header format is public, so failing fast is fine.
std::optional<Digest> decode_hex_digest(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Digest out{};
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

std::string github_signature(std::string_view secret, std::string_view body) {
  static const char* kHex = "0123456789abcdef";
  Digest mac = hmac_sha256(secret, body);
  std::string out = "sha256=";
  for (unsigned char b : mac) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

bool verify_github_signature(std::string_view secret, std::string_view body,
                             std::string_view signature_header) {
  if (secret.empty()) return false;
  constexpr std::string_view kPrefix = "sha256=";
  if (signature_header.substr(0, kPrefix.size()) != kPrefix) return false;
  auto presented = decode_hex_digest(signature_header.substr(kPrefix.size()));
  if (!presented) return false;
  Digest expected = hmac_sha256(secret, body);
  return CRYPTO_memcmp(expected.data(), presented->data(), expected.size()) == 0;
}

bool verify_gitlab_token(std::string_view expected, std::string_view token_header) {
  if (expected.empty()) return false;
  Digest a = sha256(expected);
  Digest b = sha256(token_header);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sluice::gitops
