// Which Host headers and Origins the API accepts, and the pre-routing checks of a request
// (issue 19, "Security"). The same rules run against a real server in
// tests/integration/api/request_guard_test.cc.
#include <catch2/catch.hpp>

#include "api/request_guard.h"

using namespace sluice::api;

namespace {

Request request(http::verb method, std::string target, std::string host,
                std::vector<std::pair<std::string, std::string>> headers = {},
                std::string body = "") {
  Request req{method, target, 11};
  if (!host.empty()) req.set(http::field::host, host);
  for (auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

int status_of(const std::optional<Response>& res) { return res ? res->result_int() : 0; }

}  // namespace

TEST_CASE("host policy on loopback: the listen address and the loopback names with its port",
          "[api][guard][security]") {
  auto policy = HostPolicy::make("127.0.0.1:7070", 7070, {});
  REQUIRE(policy.is_ok());
  for (const char* host : {"127.0.0.1:7070", "localhost:7070", "LocalHost:7070", "[::1]:7070",
                           "127.0.0.1", "localhost", " 127.0.0.1:7070 "}) {
    INFO(host);
    CHECK(policy->allows_host(host));
  }
  for (const char* host : {"evil.example:7070", "evil.example", "127.0.0.1:7071", "", ":7070",
                           "localhost:7070:1", "127.0.0.1:70x0", "[::1", "user@127.0.0.1:7070",
                           "127.0.0.2:7070", "localhost.:7070"}) {
    INFO(host);
    CHECK_FALSE(policy->allows_host(host));
  }
  CHECK(policy->allows_origin("http://127.0.0.1:7070"));
  CHECK(policy->allows_origin("http://localhost:7070"));
  CHECK(policy->allows_origin("http://[::1]:7070"));
  for (const char* origin : {"https://evil.example", "null", "http://127.0.0.1:7071",
                             "http://localhost", "https://127.0.0.1", "file://", "",
                             "http://127.0.0.1:7070/path", "ftp://127.0.0.1:7070"}) {
    INFO(origin);
    CHECK_FALSE(policy->allows_origin(origin));
  }
}

TEST_CASE("host policy: port 0 uses the bound port, names come from the listen address or config",
          "[api][guard][security]") {
  auto bound = HostPolicy::make("localhost:0", 41234, {});
  REQUIRE(bound.is_ok());
  CHECK(bound->allows_host("localhost:41234"));
  CHECK(bound->allows_host("127.0.0.1:41234"));
  CHECK_FALSE(bound->allows_host("localhost:0"));

  auto configured = HostPolicy::make("10.1.2.3:7070", 7070, {"sluice.example.com", "Deploy:8443"});
  REQUIRE(configured.is_ok());
  CHECK(configured->allows_host("10.1.2.3:7070"));
  CHECK_FALSE(configured->allows_host("localhost:7070"));  // not listening on loopback
  CHECK(configured->allows_host("sluice.example.com"));
  CHECK(configured->allows_host("sluice.example.com:443"));
  CHECK(configured->allows_host("deploy:8443"));
  CHECK_FALSE(configured->allows_host("deploy:8444"));
  CHECK(configured->allows_origin("https://sluice.example.com"));
  CHECK(configured->allows_origin("http://deploy:8443"));
  CHECK_FALSE(configured->allows_origin("https://deploy"));

  // A wildcard listener answers on every address of the machine: IP literals with its port are
  // accepted (a rebinding attack needs a name), names only when configured.
  auto wildcard = HostPolicy::make("0.0.0.0:7070", 7070, {});
  REQUIRE(wildcard.is_ok());
  CHECK(wildcard->allows_host("192.0.2.10:7070"));
  CHECK(wildcard->allows_host("[2001:db8::1]:7070"));
  CHECK(wildcard->allows_host("localhost:7070"));
  CHECK_FALSE(wildcard->allows_host("192.0.2.10:7071"));
  CHECK_FALSE(wildcard->allows_host("evil.example:7070"));

  for (const char* bad : {"", "http://x", "x/y", "*.example.com", "x:port", "x:0", "x:70000",
                          "a b", "[::1"}) {
    INFO(bad);
    CHECK_FALSE(HostPolicy::make("127.0.0.1:7070", 7070, {bad}).is_ok());
  }
}

TEST_CASE("guard_request: Host, Origin, content type and framing", "[api][guard][security]") {
  auto policy = HostPolicy::make("127.0.0.1:7070", 7070, {});
  REQUIRE(policy.is_ok());
  const std::string h = "127.0.0.1:7070";
  const std::string pause = "/api/v1/rollouts/x/pause";

  CHECK_FALSE(guard_request(request(http::verb::get, "/api/v1/rollouts", h), *policy));
  CHECK(status_of(guard_request(request(http::verb::get, "/healthz", "evil:7070"), *policy)) ==
        421);
  CHECK(status_of(guard_request(request(http::verb::get, "/healthz", ""), *policy)) == 400);
  // Cross-origin GETs are not refused: the browser keeps the answer from the page (no CORS).
  CHECK_FALSE(guard_request(
      request(http::verb::get, "/api/v1/rollouts", h, {{"Origin", "https://evil.example"}}),
      *policy));

  CHECK(status_of(guard_request(
            request(http::verb::post, pause, h, {{"Origin", "https://evil.example"}}), *policy)) ==
        403);
  CHECK_FALSE(guard_request(request(http::verb::post, pause, h, {{"Origin", "http://" + h}}),
                            *policy));
  CHECK(status_of(guard_request(
            request(http::verb::post, pause, h, {{"Content-Type", "text/plain"}}, "{}"),
            *policy)) == 415);
  CHECK(status_of(guard_request(request(http::verb::post, pause, h, {}, "{}"), *policy)) == 415);
  CHECK(status_of(guard_request(
            request(http::verb::post, pause, h, {{"Content-Type", "text/plain"}}), *policy)) ==
        415);
  CHECK_FALSE(guard_request(
      request(http::verb::post, pause, h, {{"Content-Type", "application/json"}}, "{}"), *policy));
  CHECK_FALSE(guard_request(request(http::verb::post, pause, h), *policy));
  CHECK(status_of(guard_request(request(http::verb::delete_, pause, h,
                                        {{"Origin", "https://evil.example"}}),
                                *policy)) == 403);

  // Webhooks: any Host and Origin, any content type (GitHub may send a form); framing still holds.
  auto hook = request(http::verb::post, "/api/v1/webhooks/github", "hooks.example.org",
                      {{"Origin", "https://github.com"},
                       {"Content-Type", "application/x-www-form-urlencoded"}},
                      "payload=x");
  CHECK_FALSE(guard_request(hook, *policy));
  CHECK_FALSE(guard_request(
      request(http::verb::post, "/api/v1/webhooks/gitlab?x=1", "", {}, "{}"), *policy));
  // Only the exact webhook paths are exempt.
  CHECK(status_of(guard_request(
            request(http::verb::post, "/api/v1/webhooks/github/../../rollouts/x/pause", "evil"),
            *policy)) == 421);
  auto smuggling = request(http::verb::post, "/api/v1/webhooks/github", "x");
  smuggling.set(http::field::transfer_encoding, "identity");
  CHECK(status_of(guard_request(smuggling, *policy)) == 400);
}
