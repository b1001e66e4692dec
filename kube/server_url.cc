#include "kube/server_url.h"

#include <boost/asio/ip/address.hpp>

namespace sluice::kube {

std::string ServerUrl::authority() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + port;
}

std::string ServerUrl::origin() const { return "https://" + authority(); }

Result<ServerUrl> parse_server_url(const std::string& url) {
  if (url.empty()) return invalid_argument("the API server URL is empty");
  if (url.rfind("http://", 0) == 0) {
    return invalid_argument(url +
                            " is refused: the API server must be reached over https:// "
                            "(Sluice always verifies the server certificate)");
  }
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    return invalid_argument("bad API server URL " + url + ": it must start with https://");
  }
  if (url.find_first_of("?#") != std::string::npos) {
    return invalid_argument("bad API server URL " + url + ": no query or fragment allowed");
  }
  const std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  ServerUrl out;
  if (slash != std::string::npos) {
    out.base_path = rest.substr(slash);
    while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  }
  if (authority.find('@') != std::string::npos) {
    return invalid_argument("bad API server URL " + url +
                            ": credentials in the URL are not supported");
  }
  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return invalid_argument("bad IPv6 host in " + url);
    out.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid_argument("bad API server URL " + url);
      port_text = after.substr(1);
      if (port_text.empty()) return invalid_argument("bad port in API server URL " + url);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return invalid_argument("bad port in API server URL " + url);
    }
  }
  if (out.host.empty()) return invalid_argument("API server URL " + url + " has no host");
  if (port_text.empty()) port_text = "443";
  long port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      return invalid_argument("bad port in API server URL " + url);
    }
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return invalid_argument("bad port in API server URL " + url);
  out.port = std::to_string(port);
  boost::system::error_code ec;
  boost::asio::ip::make_address(out.host, ec);
  out.host_is_ip = !ec;
  return out;
}

}  // namespace sluice::kube
