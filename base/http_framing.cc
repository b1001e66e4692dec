#include "base/http_framing.h"

#include <boost/beast/core/string.hpp>

namespace sluice {

namespace http = boost::beast::http;

std::optional<std::string> request_framing_error(const http::fields& header) {
  const auto codings = header.equal_range(http::field::transfer_encoding);
  if (codings.first == codings.second) return std::nullopt;
  if (std::next(codings.first) != codings.second)
    return "Transfer-Encoding must appear once";
  if (header.count(http::field::content_length) > 0)
    return "Transfer-Encoding and Content-Length must not both be set";
  auto value = codings.first->value();
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (!boost::beast::iequals(value, "chunked"))
    return "Transfer-Encoding must be exactly 'chunked'";
  return std::nullopt;
}

}  // namespace sluice
