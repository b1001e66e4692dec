// What the API server answered: an HTTP status and its body. Part of RestClient's API
// (kube/rest_client.h), kept apart so that code that only reads answers needs no transport.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace sluice::kube {

struct Response {
  int status = 0;
  std::string body;
  nlohmann::json json;  // the body parsed, or null when it is not JSON

  bool ok() const { return status >= 200 && status < 300; }
  // "" for 2xx. Otherwise "HTTP 404 NotFound: pods \"x\" not found" from the apiserver's Status
  // object (reason and message), "HTTP 404: 404 page not found" for a short one-line text body,
  // else "HTTP 404".
  std::string error_message() const;
  // OK for 2xx; else error_message() with a code: 400/422 kInvalidArgument, 401 kUnauthenticated,
  // 403 kPermissionDenied, 404 kNotFound, 409 kAlreadyExists (also an update conflict: look at
  // `status` to tell them apart), 408/429/5xx kUnavailable, anything else kInternal; and 410
  // kFailedPrecondition, used for nothing else, with "410 Gone" in the message, so that a watch's
  // "resourceVersion too old" is recognisable whatever reason the server gave ("Expired").
  Status to_status() const;
};

}  // namespace sluice::kube
