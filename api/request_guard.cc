#include "api/request_guard.h"

#include <cctype>

#include <boost/asio/ip/address.hpp>

#include "base/http_framing.h"

namespace sluice::api {
namespace {

struct HostPort {
  std::string host;  // lowercase; IPv6 in brackets
  std::optional<uint16_t> port;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// "host", "host:port", "[v6]", "[v6]:port". Names are limited to letters, digits, '-', '.' and
// '_': anything else (a scheme, a path, userinfo, a wildcard, spaces) is not a host here.
std::optional<HostPort> parse_host_port(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  HostPort out;
  std::string_view port_text;
  bool has_port = false;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(std::string(text.substr(1, close - 1)), ec);
    if (ec) return std::nullopt;
    out.host = lower(text.substr(0, close + 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      has_port = true;
      port_text = rest.substr(1);
    }
  } else {
    const size_t colon = text.find(':');
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = text.substr(colon + 1);
      text = text.substr(0, colon);
    }
    if (text.empty()) return std::nullopt;
    for (char c : text) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
        return std::nullopt;
    }
    out.host = lower(text);
  }
  if (has_port) {
    out.port = parse_port(port_text);
    if (!out.port) return std::nullopt;
  }
  return out;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  if (!host.empty() && host.front() == '[') return true;  // parse_host_port checked it
  boost::asio::ip::make_address_v4(host, ec);
  return !ec;
}

bool is_webhook(std::string_view path) {
  return path == "/api/v1/webhooks/github" || path == "/api/v1/webhooks/gitlab";
}

// For messages: at most 200 printable characters of a header value.
std::string quoted(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 200))
    out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : '?');
  return "'" + out + (value.size() > 200 ? "...'" : "'");
}

}  // namespace

Status check_allowed_host(std::string_view entry) {
  if (!parse_host_port(entry))
    return invalid_argument("'" + std::string(entry) +
                            "' is not a host name or host:port (no scheme, path or wildcard)");
  return Status::ok();
}

Result<HostPolicy> HostPolicy::make(std::string_view listen, uint16_t bound_port,
                                    const std::vector<std::string>& configured) {
  HostPolicy policy;
  std::string host(listen.substr(0, listen.rfind(':') == std::string_view::npos
                                        ? listen.size()
                                        : listen.rfind(':')));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  host = lower(host);
  if (host.empty()) host = "127.0.0.1";  // ":7070" listens on loopback
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  bool loopback = host == "localhost";
  if (!ec) {
    policy.entries_.push_back({address.is_v6() ? "[" + address.to_string() + "]"
                                               : address.to_string(),
                               bound_port});
    loopback = loopback || address.is_loopback();
    if (address.is_unspecified()) {
      policy.any_ip_literal_port_ = bound_port;
      loopback = true;  // a wildcard listener answers on loopback too
    }
  } else {
    policy.entries_.push_back({host, bound_port});
  }
  if (loopback) {
    for (const char* name : {"localhost", "127.0.0.1", "[::1]"})
      policy.entries_.push_back({name, bound_port});
  }
  for (const auto& entry : configured) {
    auto parsed = parse_host_port(entry);
    if (!parsed)
      return invalid_argument("api.allowedHosts: " + check_allowed_host(entry).message());
    policy.entries_.push_back({parsed->host, parsed->port});
  }
  return policy;
}

bool HostPolicy::allows_host(std::string_view host_header) const {
  auto parsed = parse_host_port(host_header);
  if (!parsed) return false;
  for (const auto& e : entries_) {
    if (e.host == parsed->host && (!e.port || !parsed->port || *e.port == *parsed->port))
      return true;
  }
  return any_ip_literal_port_ && is_ip_literal(parsed->host) &&
         (!parsed->port || *parsed->port == *any_ip_literal_port_);
}

bool HostPolicy::allows_origin(std::string_view origin) const {
  origin = trim(origin);
  uint16_t default_port = 0;
  if (origin.substr(0, 7) == "http://") {
    default_port = 80;
    origin.remove_prefix(7);
  } else if (origin.substr(0, 8) == "https://") {
    default_port = 443;
    origin.remove_prefix(8);
  } else {
    return false;  // "null", other schemes, garbage
  }
  auto parsed = parse_host_port(origin);
  if (!parsed) return false;
  const uint16_t port = parsed->port.value_or(default_port);
  for (const auto& e : entries_) {
    if (e.host == parsed->host && (!e.port || *e.port == port)) return true;
  }
  return any_ip_literal_port_ && is_ip_literal(parsed->host) && port == *any_ip_literal_port_;
}

std::string HostPolicy::describe() const {
  std::string out;
  for (const auto& e : entries_) {
    if (!out.empty()) out += ", ";
    out += e.host;
    if (e.port) out += ":" + std::to_string(*e.port);
  }
  if (any_ip_literal_port_) out += ", any IP address:" + std::to_string(*any_ip_literal_port_);
  return out;
}

std::optional<Response> guard_request(const Request& request, const HostPolicy& hosts) {
  if (auto framing = request_framing_error(request.base()))
    return error_response(http::status::bad_request, "bad_request", *framing);

  std::string_view target = to_sv(request.target());
  std::string_view path = target.substr(0, target.find('?'));
  if (is_webhook(path)) return std::nullopt;

  auto host = request.find(http::field::host);
  if (host == request.end())
    return error_response(http::status::bad_request, "bad_request", "missing Host header");
  if (!hosts.allows_host(to_sv(host->value()))) {
    return error_response(http::status::misdirected_request, "misdirected_request",
                          "Host " + quoted(to_sv(host->value())) +
                              " is not served here (allowed: " + hosts.describe() +
                              "); add the name to api.allowedHosts or --allowed-host");
  }

  const auto method = request.method();
  if (method == http::verb::get || method == http::verb::head || method == http::verb::options)
    return std::nullopt;
  if (auto origin = request.find(http::field::origin);
      origin != request.end() && !hosts.allows_origin(to_sv(origin->value()))) {
    return error_response(http::status::forbidden, "forbidden",
                          "cross-site request refused: Origin " + quoted(to_sv(origin->value())) +
                              " is not this server");
  }
  auto type = request.find(http::field::content_type);
  if (type == request.end()) {
    if (!request.body().empty())
      return error_response(http::status::unsupported_media_type, "unsupported_media_type",
                            "a request body needs Content-Type: application/json");
    return std::nullopt;
  }
  std::string_view value = to_sv(type->value());
  if (lower(trim(value.substr(0, value.find(';')))) != "application/json") {
    return error_response(http::status::unsupported_media_type, "unsupported_media_type",
                          "Content-Type " + quoted(value) +
                              " is not accepted: send application/json, or no body");
  }
  return std::nullopt;
}

}  // namespace sluice::api
