// Response::error_message and to_status on the apiserver's Status objects and other bodies.
#include "kube/response.h"

#include <catch2/catch.hpp>

using sluice::StatusCode;
using sluice::kube::Response;

namespace {

Response answer(int status, const std::string& body) {
  Response r;
  r.status = status;
  r.body = body;
  r.json = nlohmann::json::parse(body, nullptr, false);
  if (r.json.is_discarded()) r.json = nullptr;
  return r;
}

}  // namespace

TEST_CASE("error_message reads the apiserver Status object", "[response]") {
  const Response not_found = answer(404, R"j({"kind":"Status","apiVersion":"v1","metadata":{},
      "status":"Failure","message":"pods \"x\" not found","reason":"NotFound",
      "details":{"name":"x","kind":"pods"},"code":404})j");
  CHECK_FALSE(not_found.ok());
  CHECK(not_found.error_message() == "HTTP 404 NotFound: pods \"x\" not found");
  CHECK(not_found.to_status().code() == StatusCode::kNotFound);
  CHECK(not_found.to_status().message() == not_found.error_message());

  const Response unauthorized = answer(401, R"j({"kind":"Status","apiVersion":"v1","metadata":{},
      "status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})j");
  CHECK(unauthorized.error_message() == "HTTP 401 Unauthorized: Unauthorized");
  CHECK(unauthorized.to_status().code() == StatusCode::kUnauthenticated);

  const Response forbidden =
      answer(403, R"j({"kind":"Status","message":"pods is forbidden: User \"system:)j"
                  R"j(serviceaccount:shop:sluice\" cannot list resource \"pods\"",)j"
                  R"j("reason":"Forbidden"})j");
  CHECK(forbidden.error_message().rfind("HTTP 403 Forbidden: pods is forbidden: User ", 0) == 0);
  CHECK(forbidden.to_status().code() == StatusCode::kPermissionDenied);

  const Response no_reason = answer(500, R"j({"kind":"Status","message":"etcdserver: timeout"})j");
  CHECK(no_reason.error_message() == "HTTP 500: etcdserver: timeout");
  CHECK(no_reason.to_status().code() == StatusCode::kUnavailable);
}

TEST_CASE("a 410 is FailedPrecondition and says Gone whatever the reason", "[response]") {
  const Response expired = answer(410, R"j({"kind":"Status","status":"Failure",
      "message":"too old resource version: 1 (5803)","reason":"Expired","code":410})j");
  const auto status = expired.to_status();
  CHECK(status.code() == StatusCode::kFailedPrecondition);
  CHECK(status.message().rfind("HTTP 410 Expired: too old resource version: 1 (5803)", 0) == 0);
  CHECK(status.message().find("410 Gone") != std::string::npos);

  const Response gone = answer(410, R"j({"kind":"Status","message":"gone","reason":"Gone"})j");
  CHECK(gone.to_status().message() == "HTTP 410 Gone: gone");
}

TEST_CASE("error_message without a Status object", "[response]") {
  CHECK(answer(404, "404 page not found\n").error_message() == "HTTP 404: 404 page not found");
  CHECK(answer(502, "<html>\n<body>Bad Gateway</body>\n</html>\n").error_message() == "HTTP 502");
  CHECK(answer(503, "").error_message() == "HTTP 503");
  CHECK(answer(400, R"j({"kind":"Status","reason":"BadRequest"})j").error_message() ==
        "HTTP 400 BadRequest");
  CHECK(answer(409, R"j({"message":"conflict","reason":"Conflict"})j").to_status().code() ==
        StatusCode::kAlreadyExists);
  CHECK(answer(429, "").to_status().code() == StatusCode::kUnavailable);
  CHECK(answer(422, "").to_status().code() == StatusCode::kInvalidArgument);
  CHECK(answer(418, "").to_status().code() == StatusCode::kInternal);
}

TEST_CASE("a 2xx answer has no error", "[response]") {
  const Response created = answer(201, R"j({"kind":"Pod"})j");
  CHECK(created.ok());
  CHECK(created.error_message().empty());
  CHECK(created.to_status().is_ok());
}
