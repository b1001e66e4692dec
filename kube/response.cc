#include "kube/response.h"

namespace sluice::kube {
namespace {

// The body when it is a short line of text (the apiserver's "404 page not found"), else "".
std::string short_text(const std::string& body) {
  std::string line = body;
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) {
    line.pop_back();
  }
  if (line.empty() || line.size() > 200) return "";
  for (char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "";
  }
  return line;
}

std::string string_member(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::string Response::error_message() const {
  if (ok()) return "";
  const std::string prefix = "HTTP " + std::to_string(status);
  if (json.is_object()) {
    const std::string message = string_member(json, "message");
    const std::string reason = string_member(json, "reason");
    if (!message.empty()) return prefix + (reason.empty() ? "" : " " + reason) + ": " + message;
    if (!reason.empty()) return prefix + " " + reason;
    return prefix;
  }
  const std::string text = short_text(body);
  return text.empty() ? prefix : prefix + ": " + text;
}

Status Response::to_status() const {
  if (ok()) return Status::ok();
  std::string message = error_message();
  StatusCode code = StatusCode::kInternal;
  switch (status) {
    case 400:
    case 422:
      code = StatusCode::kInvalidArgument;
      break;
    case 401:
      code = StatusCode::kUnauthenticated;
      break;
    case 403:
      code = StatusCode::kPermissionDenied;
      break;
    case 404:
      code = StatusCode::kNotFound;
      break;
    case 409:
      code = StatusCode::kAlreadyExists;
      break;
    case 410:
      code = StatusCode::kFailedPrecondition;
      if (message.find("410 Gone") == std::string::npos) {
        message += " (410 Gone: the resourceVersion is too old; list again)";
      }
      break;
    case 408:
    case 429:
      code = StatusCode::kUnavailable;
      break;
    default:
      if (status >= 500 && status < 600) code = StatusCode::kUnavailable;
      break;
  }
  return Status(code, message);
}

}  // namespace sluice::kube
