#include "gitops/known_hosts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace sluice::gitops {
namespace {

std::string base64_decode(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0) return {};
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return {};
  size_t len = static_cast<size_t>(n);
  if (in.size() >= 1 && in[in.size() - 1] == '=') --len;
  if (in.size() >= 2 && in[in.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

bool hashed_host_matches(const std::string& pattern, const std::string& host) {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, host))
  size_t second = pattern.find('|', 3);
  if (pattern.rfind("|1|", 0) != 0 || second == std::string::npos) return false;
  std::string salt = base64_decode(pattern.substr(3, second - 3));
  std::string expected = base64_decode(pattern.substr(second + 1));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(host.data()), host.size(), mac, &mac_len);
  return expected.size() == mac_len &&
         expected == std::string(reinterpret_cast<char*>(mac), mac_len);
}

bool host_matches(const std::string& patterns, const std::string& host) {
  std::stringstream ss(patterns);
  std::string p;
  while (std::getline(ss, p, ',')) {
    if (p.rfind("|1|", 0) == 0) {
      if (hashed_host_matches(p, host)) return true;
      continue;
    }
    if (p == host) return true;
    // "[host]:port": libgit2 gives the host without the port; the port is not verified here.
    if (p.size() > 2 && p[0] == '[') {
      size_t close = p.find(']');
      if (close != std::string::npos && p.substr(1, close - 1) == host) return true;
    }
  }
  return false;
}

}  // namespace

Status verify_known_host(const std::string& known_hosts_file, const std::string& host,
                         const std::string& raw_key) {
  std::ifstream in(known_hosts_file);
  if (!in) return invalid_argument("cannot read known_hosts file " + known_hosts_file);
  bool host_known = false;
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string first, hosts, type, key;
    if (!(fields >> first) || first[0] == '#') continue;
    bool revoked = false;
    if (first[0] == '@') {
      if (first == "@cert-authority") continue;
      revoked = first == "@revoked";
      if (!(fields >> hosts)) continue;
    } else {
      hosts = first;
    }
    if (!(fields >> type >> key) || !host_matches(hosts, host)) continue;
    bool same = base64_decode(key) == raw_key;
    if (revoked && same)
      return {StatusCode::kPermissionDenied, "ssh host key of " + host + " is revoked"};
    if (!revoked) {
      host_known = true;
      if (same) return Status::ok();
    }
  }
  return {StatusCode::kPermissionDenied,
          host_known ? "ssh host key of " + host + " does not match known_hosts (possible MITM)"
                     : "ssh host " + host + " is not in known_hosts"};
}

}  // namespace sluice::gitops
