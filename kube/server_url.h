// The API server's address, parsed from a kubeconfig `server` field or the in-cluster variables.
#pragma once

#include <string>

#include "base/status.h"

namespace sluice::kube {

struct ServerUrl {
  std::string host;       // without brackets: "127.0.0.1", "::1", "api.example.com"
  std::string port;       // decimal, "443" when the URL has none
  std::string base_path;  // "" or a prefix without a trailing '/': "/k8s/clusters/c-1"
  bool host_is_ip = false;

  // "https://host:port" (IPv6 in brackets): how transport errors name the server.
  std::string origin() const;
  // The Host header: "host:port" (IPv6 in brackets).
  std::string authority() const;
};

// Accepts "https://host[:port][/prefix]". http:// is refused (the server certificate is always
// verified), as are user info, queries and fragments. Errors say what is wrong with the URL.
Result<ServerUrl> parse_server_url(const std::string& url);

}  // namespace sluice::kube
