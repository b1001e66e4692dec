#include "base/redact.h"

#include <cctype>

namespace sluice {
namespace {

bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// "host", "host:port", "[v6]" or "[v6]:port", with nothing that only userinfo may hold.
bool is_host_and_port(std::string_view authority) {
  if (authority.empty()) return false;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = authority.substr(close + 1);
    return rest.empty() || (rest.front() == ':' && all_digits(rest.substr(1)));
  }
  const size_t colon = authority.find(':');
  std::string_view host = authority.substr(0, colon);
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '.' && c != '-' && c != '_' && c != '~' && c != '%') return false;
  }
  return colon == std::string_view::npos || all_digits(authority.substr(colon + 1));
}

bool ends_url(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`';
}

bool is_scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

}  // namespace

std::string redact_url(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const size_t host_start = scheme_end + 3;
  size_t slash = url.find('/', host_start);
  if (slash == std::string_view::npos) slash = url.size();
  size_t at = url.rfind('@', slash == 0 ? 0 : slash - 1);
  if (at == std::string_view::npos || at < host_start) {
    // No '@' before the first '/': userinfo only if that text cannot be a host (a password with
    // a '/' in it), and then it runs to the last '@'.
    if (is_host_and_port(url.substr(host_start, slash - host_start))) return std::string(url);
    at = url.rfind('@');
    if (at == std::string_view::npos || at < host_start) return std::string(url);
  }
  std::string out(url.substr(0, host_start));
  out.append(url.substr(at + 1));
  return out;
}

std::string redact_urls_in(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;
  size_t search = 0;
  while (true) {
    const size_t sep = text.find("://", search);
    if (sep == std::string_view::npos) break;
    size_t start = sep;
    while (start > copied && is_scheme_char(text[start - 1])) --start;
    size_t end = sep + 3;
    while (end < text.size() && !ends_url(text[end])) ++end;
    if (start == sep) {  // "://" without a scheme: not a URL
      search = sep + 3;
      continue;
    }
    out.append(text.substr(copied, start - copied));
    out += redact_url(text.substr(start, end - start));
    copied = end;
    search = end;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace sluice
