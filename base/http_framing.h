// The message-framing rule shared by every HTTP/1.1 server of Sluice (the API server and the
// built-in router's front doors), against request smuggling (RFC 9112 6.1 and 6.3).
//
// A request body is framed either by one Content-Length or by "Transfer-Encoding: chunked" and
// nothing else. Any other transfer coding ("identity", "gzip, chunked", "chunked, identity",
// "xchunked"), a repeated Transfer-Encoding field, or Transfer-Encoding together with
// Content-Length is refused: Beast reads such a request as having no body (or a body other than
// a proxy in front of us would see), and the rest of the bytes would be parsed as a second
// request. Servers answer 400 and close the connection.
//
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

#include <boost/beast/http/fields.hpp>

namespace sluice {

// Why the header's framing is refused, or nullopt when it is acceptable.
std::optional<std::string> request_framing_error(const boost::beast::http::fields& header);

}  // namespace sluice
