#include "api/http_types.h"

namespace sluice::api {

Response json_response(http::status status, const nlohmann::json& body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  // Replace invalid UTF-8 instead of throwing: names may come from user input.
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

Response error_response(http::status status, std::string_view code, std::string_view message) {
  return json_response(status, {{"error", std::string(message)}, {"code", std::string(code)}});
}

Response status_response(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotFound:
      return error_response(http::status::not_found, "not_found", status.message());
    case StatusCode::kFailedPrecondition:
      return error_response(http::status::conflict, "conflict", status.message());
    case StatusCode::kInvalidArgument:
      return error_response(http::status::bad_request, "bad_request", status.message());
    case StatusCode::kUnavailable:
      return error_response(http::status::service_unavailable, "unavailable", status.message());
    case StatusCode::kDeadlineExceeded:
      return error_response(http::status::gateway_timeout, "timeout", status.message());
    case StatusCode::kPermissionDenied:
      return error_response(http::status::forbidden, "forbidden", status.message());
    case StatusCode::kUnauthenticated:
      return error_response(http::status::unauthorized, "unauthorized", status.message());
    default:
      return error_response(http::status::internal_server_error, "internal", status.message());
  }
}

Response text_response(http::status status, std::string_view content_type, std::string body) {
  Response res{status, 11};
  res.set(http::field::content_type, to_bsv(content_type));
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace sluice::api
