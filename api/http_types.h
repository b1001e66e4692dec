// HTTP message types shared by the router, the server sessions and the tests, plus the JSON
// error shape of the contract: {"error": "<sentence>", "code": "<machine code>"}.
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"

namespace sluice::api {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Beast 1.74 uses boost::string_view; convert at the boundary.
inline std::string_view to_sv(boost::beast::string_view s) { return {s.data(), s.size()}; }
inline boost::beast::string_view to_bsv(std::string_view s) { return {s.data(), s.size()}; }

// A response with a JSON body and Content-Type application/json.
Response json_response(http::status status, const nlohmann::json& body);
// {"error": message, "code": code} with the given status.
Response error_response(http::status status, std::string_view code, std::string_view message);
// Maps a Status from the facade: NotFound -> 404, FailedPrecondition -> 409,
// InvalidArgument -> 400, Unavailable -> 503, PermissionDenied -> 403, anything else -> 500.
Response status_response(const Status& status);
Response text_response(http::status status, std::string_view content_type, std::string body);

}  // namespace sluice::api
