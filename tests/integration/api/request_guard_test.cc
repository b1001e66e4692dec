// The real ApiServer on a loopback port against hostile requests (issue 19, "Security"):
// cross-site POSTs from a browser (foreign Origin, CORS "simple" content types), DNS rebinding
// (a foreign Host) and request smuggling through Transfer-Encoding.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "api/server.h"
#include "fake_facade.h"
#include "gitops/webhook_verify.h"
#include "test_support.h"

using namespace sluice;
using namespace sluice::api;
using nlohmann::json;
using sluice::testing::FakeFacade;
using sluice::testing::TestConnection;
using namespace std::chrono_literals;

namespace {

constexpr const char* kGithubSecret = "github-webhook-secret";

struct GuardFixture {
  FakeFacade facade;
  Authenticator auth;
  boost::asio::io_context ioc;
  std::unique_ptr<ApiServer> server;
  std::thread thread;
  unsigned short port = 0;

  explicit GuardFixture(ServerOptions options = {}) {
    facade.add_canary("orders-api", "Progressing", 1);
    WebhookSecrets webhooks;
    webhooks.github_secret = kGithubSecret;
    server = std::make_unique<ApiServer>(ioc, facade, auth, webhooks, options);
    auto bound = server->start();
    REQUIRE(bound.is_ok());
    port = bound->port();
    thread = std::thread([this] { ioc.run(); });
  }

  ~GuardFixture() {
    std::atomic<bool> done{false};
    server->shutdown(Duration(1000), [&] { done = true; });
    for (int i = 0; i < 300 && !done; ++i) std::this_thread::sleep_for(10ms);
    ioc.stop();
    thread.join();
    server.reset();
  }

  std::string host() const { return "127.0.0.1:" + std::to_string(port); }

  // One request on a fresh connection; nullopt when the server answered nothing.
  std::optional<sluice::testing::bhttp::response<sluice::testing::bhttp::string_body>> send(
      const std::string& raw) {
    TestConnection c(port);
    REQUIRE(c.connected());
    REQUIRE_FALSE(c.write(raw));
    return c.read_response();
  }

  std::string phase() {
    auto res = send("GET /api/v1/rollouts/orders-api HTTP/1.1\r\nHost: " + host() + "\r\n\r\n");
    REQUIRE(res);
    REQUIRE(res->result_int() == 200);
    return json::parse(res->body())["phase"].get<std::string>();
  }
};

std::string post(const std::string& target, const std::string& host,
                 const std::string& extra_headers, const std::string& body = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("a cross-site POST (foreign Origin or simple content type) is refused, changing nothing",
          "[api][server][security]") {
  GuardFixture f;
  const std::string pause = "/api/v1/rollouts/orders-api/pause";

  // The reported attack: a page on evil.example posts text/plain to a tokenless server.
  auto evil = f.send(post(pause, f.host(),
                          "Origin: https://evil.example\r\nContent-Type: text/plain\r\n", "{}"));
  REQUIRE(evil);
  CHECK(evil->result_int() == 403);
  CHECK(json::parse(evil->body())["error"].get<std::string>().find("https://evil.example") !=
        std::string::npos);
  // A foreign Origin is refused whatever the content type, and another port is another origin.
  for (const std::string origin :
       {"https://evil.example", "null", "http://127.0.0.1:1", "http://localhost"}) {
    INFO(origin);
    auto res = f.send(post(pause, f.host(), "Origin: " + origin + "\r\n"));
    REQUIRE(res);
    CHECK(res->result_int() == 403);
  }
  // The CORS "simple request" content types are refused even from the same origin.
  for (const std::string type : {"text/plain", "application/x-www-form-urlencoded",
                                 "multipart/form-data; boundary=x", "TEXT/PLAIN;charset=utf-8"}) {
    INFO(type);
    auto res = f.send(post(pause, f.host(), "Content-Type: " + type + "\r\n", "{}"));
    REQUIRE(res);
    CHECK(res->result_int() == 415);
    CHECK(json::parse(res->body())["code"] == "unsupported_media_type");
  }
  // A body without any content type is refused too.
  auto untyped = f.send(post(pause, f.host(), "", "{}"));
  REQUIRE(untyped);
  CHECK(untyped->result_int() == 415);
  CHECK(f.phase() == "Progressing");

  // What the dashboard sends: same Origin, no body, no content type.
  auto dashboard =
      f.send(post(pause, f.host(), "Origin: http://" + f.host() + "\r\n"));
  REQUIRE(dashboard);
  CHECK(dashboard->result_int() == 200);
  CHECK(f.phase() == "Paused");
  // What the CLI sends with a body: application/json (parameters allowed), no Origin.
  auto cli = f.send(post("/api/v1/rollouts/orders-api/resume", f.host(),
                         "Content-Type: application/json; charset=utf-8\r\n", "{}"));
  REQUIRE(cli);
  CHECK(cli->result_int() == 200);
  CHECK(f.phase() == "Progressing");
}

TEST_CASE("a foreign Host is refused with 421 naming it (DNS rebinding), loopback names are served",
          "[api][server][security]") {
  GuardFixture f;
  const std::string port = std::to_string(f.port);
  for (const std::string& host :
       std::vector<std::string>{"evil.example:" + port, "evil.example", "127.0.0.1:1",
                                "localhost.evil.example:" + port, "127.0.0.2:" + port}) {
    INFO(host);
    for (const std::string target : {"/api/v1/rollouts", "/metrics", "/ui/", "/healthz"}) {
      INFO(target);
      auto res = f.send("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
      REQUIRE(res);
      CHECK(res->result_int() == 421);
      auto body = json::parse(res->body(), nullptr, false);
      REQUIRE(body.is_object());
      CHECK(body["code"] == "misdirected_request");
      CHECK(body["error"].get<std::string>().find(host) != std::string::npos);
    }
  }
  // A POST with a foreign Host changes nothing either.
  auto rebound = f.send(post("/api/v1/rollouts/orders-api/pause", "evil.example:" + port, ""));
  REQUIRE(rebound);
  CHECK(rebound->result_int() == 421);
  CHECK(f.phase() == "Progressing");

  // No Host at all is a bad request (HTTP/1.1 requires one).
  auto hostless = f.send("GET /api/v1/rollouts HTTP/1.1\r\n\r\n");
  REQUIRE(hostless);
  CHECK(hostless->result_int() == 400);

  for (const std::string& host :
       std::vector<std::string>{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST:" + port,
                                "[::1]:" + port, "127.0.0.1"}) {
    INFO(host);
    auto res = f.send("GET /api/v1/rollouts HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    REQUIRE(res);
    CHECK(res->result_int() == 200);
  }
}

TEST_CASE("api.allowedHosts: a configured name is served and is a same origin",
          "[api][server][security]") {
  ServerOptions options;
  options.allowed_hosts = {"sluice.example.com", "deploy.internal:8443"};
  GuardFixture f(options);
  const std::string port = std::to_string(f.port);
  auto named = f.send("GET /api/v1/rollouts HTTP/1.1\r\nHost: sluice.example.com\r\n\r\n");
  REQUIRE(named);
  CHECK(named->result_int() == 200);
  auto proxied = f.send("GET /api/v1/rollouts HTTP/1.1\r\nHost: deploy.internal:8443\r\n\r\n");
  REQUIRE(proxied);
  CHECK(proxied->result_int() == 200);
  auto wrong_port = f.send("GET /api/v1/rollouts HTTP/1.1\r\nHost: deploy.internal:9000\r\n\r\n");
  REQUIRE(wrong_port);
  CHECK(wrong_port->result_int() == 421);
  // Behind a TLS proxy the dashboard's Origin is https://sluice.example.com (port 443).
  auto pause = f.send(post("/api/v1/rollouts/orders-api/pause", "sluice.example.com",
                           "Origin: https://sluice.example.com\r\n"));
  REQUIRE(pause);
  CHECK(pause->result_int() == 200);
  auto foreign = f.send(post("/api/v1/rollouts/orders-api/resume", "sluice.example.com",
                             "Origin: https://deploy.internal\r\n"));
  REQUIRE(foreign);
  CHECK(foreign->result_int() == 403);  // deploy.internal is allowed on 8443 only
  CHECK(f.phase() == "Paused");
}

TEST_CASE("webhooks skip the Host and Origin checks but keep their signature check",
          "[api][server][security]") {
  GuardFixture f;
  const std::string body = R"({"ref":"refs/heads/main"})";
  const std::string headers =
      "Origin: https://github.com\r\nContent-Type: application/x-www-form-urlencoded\r\n"
      "X-GitHub-Event: push\r\n";
  auto unsigned_push =
      f.send(post("/api/v1/webhooks/github", "hooks.example.org", headers, body));
  REQUIRE(unsigned_push);
  CHECK(unsigned_push->result_int() == 401);
  CHECK(f.facade.refresh_requests() == 0);
  auto signed_push = f.send(post(
      "/api/v1/webhooks/github", "hooks.example.org",
      headers + "X-Hub-Signature-256: " + gitops::github_signature(kGithubSecret, body) + "\r\n",
      body));
  REQUIRE(signed_push);
  CHECK(signed_push->result_int() == 202);
  CHECK(f.facade.refresh_requests() == 1);
}

TEST_CASE("Transfer-Encoding other than chunked, or with Content-Length, gets 400 and a close",
          "[api][server][security]") {
  GuardFixture f;
  // Each body is a second, smuggled request: it must never be executed.
  const std::string smuggled =
      "POST /api/v1/rollouts/orders-api/abort HTTP/1.1\r\nHost: " + f.host() +
      "\r\nContent-Length: 0\r\n\r\n";
  for (const std::string te : {"identity", "chunked, identity", "xchunked", "gzip, chunked",
                               "chunked\r\nTransfer-Encoding: chunked"}) {
    INFO(te);
    TestConnection c(f.port);
    REQUIRE_FALSE(c.write("POST /api/v1/rollouts/orders-api/pause HTTP/1.1\r\nHost: " + f.host() +
                          "\r\nTransfer-Encoding: " + te + "\r\n\r\n" + smuggled));
    auto res = c.read_response();
    REQUIRE(res);
    CHECK(res->result_int() == 400);
    CHECK(json::parse(res->body())["code"] == "bad_request");
    CHECK(c.closed_within(2000ms));
  }
  for (const std::string framing : {"Content-Length: 5\r\nTransfer-Encoding: chunked",
                                    "Transfer-Encoding: chunked\r\nContent-Length: 5",
                                    "Transfer-Encoding: identity\r\nContent-Length: 5"}) {
    INFO(framing);
    TestConnection c(f.port);
    REQUIRE_FALSE(c.write("POST /api/v1/rollouts/orders-api/pause HTTP/1.1\r\nHost: " + f.host() +
                          "\r\n" + framing + "\r\n\r\n0\r\n\r\n" + smuggled));
    auto res = c.read_response();
    REQUIRE(res);
    CHECK(res->result_int() == 400);
    CHECK(c.closed_within(2000ms));
  }
  CHECK(f.phase() == "Progressing");
  auto after = f.send("GET /api/v1/rollouts/orders-api HTTP/1.1\r\nHost: " + f.host() + "\r\n\r\n");
  REQUIRE(after);
  CHECK(json::parse(after->body())["aborted"] == false);

  // Plain chunked (any case) is fine.
  TestConnection c(f.port);
  REQUIRE_FALSE(c.write("POST /api/v1/rollouts/orders-api/pause HTTP/1.1\r\nHost: " + f.host() +
                        "\r\nTransfer-Encoding: Chunked\r\nContent-Type: application/json\r\n\r\n"
                        "2\r\n{}\r\n0\r\n\r\n"));
  auto chunked = c.read_response();
  REQUIRE(chunked);
  CHECK(chunked->result_int() == 200);
  CHECK(f.phase() == "Paused");
}
