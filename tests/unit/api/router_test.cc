#include <catch2/catch.hpp>

#include "api/router.h"
#include "fake_facade.h"
#include "gitops/webhook_verify.h"

using namespace sluice::api;
using nlohmann::json;
using sluice::testing::FakeFacade;

namespace {

// Tokens need at least 16 characters (api/auth.h).
const std::string kViewToken = "view-token-0123456789";
const std::string kDeployToken = "deploy-token-0123456789";
const std::string kAdminToken = "admin-token-0123456789";

struct Fixture {
  FakeFacade facade;
  Authenticator auth;
  WebhookSecrets webhooks;
  ApiContext ctx{facade, auth, webhooks, 1 << 20};

  Fixture() {
    facade.add_canary("orders-api", "Paused", 1);
    facade.add_canary("inventory", "Healthy", 0);
    webhooks.github_secret = "gh-secret";
    webhooks.gitlab_token = "gl-token";
  }

  void enable_auth() {
    REQUIRE(auth.add_token(kViewToken, Role::kViewer, "viewer-bot").is_ok());
    REQUIRE(auth.add_token(kDeployToken, Role::kDeployer, "ci").is_ok());
    REQUIRE(auth.add_token(kAdminToken, Role::kAdmin, "").is_ok());
  }

  // Runs handle() and, for deferred results, the operation to completion (the fake answers
  // synchronously).
  Response call(http::verb method, const std::string& target, const std::string& token = "",
                const std::string& body = "") {
    Request req{method, target, 11};
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = body;
    req.prepare_payload();
    return run(req);
  }

  Response run(const Request& req) {
    HandleResult result = handle(req, ctx);
    if (auto* res = std::get_if<Response>(&result)) return *res;
    if (auto* deferred = std::get_if<Deferred>(&result)) {
      std::optional<Response> out;
      deferred->start([&](Response r) { out = std::move(r); });
      REQUIRE(out.has_value());
      return *out;
    }
    FAIL("unexpected event stream");
    return {};
  }
};

json body_of(const Response& res) { return json::parse(res.body()); }

}  // namespace

TEST_CASE("read endpoints return the facade's models", "[api][router]") {
  Fixture f;
  auto list = f.call(http::verb::get, "/api/v1/rollouts");
  REQUIRE(list.result() == http::status::ok);
  REQUIRE(body_of(list)["items"].size() == 2);

  auto one = f.call(http::verb::get, "/api/v1/rollouts/orders-api");
  REQUIRE(one.result() == http::status::ok);
  CHECK(body_of(one)["phase"] == "Paused");
  CHECK(one[http::field::content_type] == "application/json");

  auto hist = f.call(http::verb::get, "/api/v1/rollouts/orders-api/history");
  REQUIRE(hist.result() == http::status::ok);
  CHECK(body_of(hist)["items"][0]["revision"] == 6);

  auto events = f.call(http::verb::get, "/api/v1/rollouts/orders-api/events");
  REQUIRE(events.result() == http::status::ok);
  CHECK(body_of(events)["items"].size() >= 1);

  auto source = f.call(http::verb::get, "/api/v1/source");
  REQUIRE(source.result() == http::status::ok);
  CHECK(body_of(source)["error"].is_null());

  CHECK(f.call(http::verb::get, "/healthz").result() == http::status::ok);
  CHECK(f.call(http::verb::get, "/readyz").result() == http::status::ok);
  f.facade.set_ready(false);
  CHECK(f.call(http::verb::get, "/readyz").result() == http::status::service_unavailable);
}

TEST_CASE("errors: unknown rollout and path 404, wrong method 405, bad query 400",
          "[api][router]") {
  Fixture f;
  auto missing = f.call(http::verb::get, "/api/v1/rollouts/nope");
  REQUIRE(missing.result() == http::status::not_found);
  CHECK(body_of(missing)["code"] == "not_found");
  CHECK(body_of(missing)["error"].get<std::string>().find("nope") != std::string::npos);
  CHECK(f.call(http::verb::get, "/api/v1/rollouts/nope/history").result() ==
        http::status::not_found);
  CHECK(f.call(http::verb::get, "/api/v1/rollouts/nope/events").result() ==
        http::status::not_found);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/nope/promote").result() ==
        http::status::not_found);
  CHECK(f.call(http::verb::get, "/api/v2/rollouts").result() == http::status::not_found);
  CHECK(f.call(http::verb::get, "/api/v1/rollouts/a/b/c").result() == http::status::not_found);

  auto wrong = f.call(http::verb::delete_, "/api/v1/rollouts/orders-api");
  REQUIRE(wrong.result() == http::status::method_not_allowed);
  CHECK(wrong[http::field::allow] == "GET");
  CHECK(f.call(http::verb::get, "/api/v1/rollouts/orders-api/promote").result() ==
        http::status::method_not_allowed);
  CHECK(f.call(http::verb::get, "/api/v1/webhooks/github").result() ==
        http::status::method_not_allowed);

  CHECK(f.call(http::verb::post, "/api/v1/rollouts/orders-api/undo?revision=abc").result() ==
        http::status::bad_request);
  CHECK(f.call(http::verb::get, "/api/v1/rollouts?x=%zz").result() == http::status::bad_request);
  auto bad_json = f.call(http::verb::post, "/api/v1/rollouts/orders-api/promote", "", "{not json");
  REQUIRE(bad_json.result() == http::status::bad_request);
  CHECK(body_of(bad_json)["code"] == "bad_request");
}

TEST_CASE("verbs run through the facade, wrong state is 409 with the reason", "[api][router]") {
  Fixture f;
  auto promoted = f.call(http::verb::post, "/api/v1/rollouts/orders-api/promote");
  REQUIRE(promoted.result() == http::status::ok);
  CHECK(body_of(promoted)["currentStepIndex"] == 2);
  CHECK(body_of(promoted)["weights"]["canary"] == 50);
  CHECK(f.facade.last_actor() == "anonymous");

  auto conflict = f.call(http::verb::post, "/api/v1/rollouts/inventory/promote");
  REQUIRE(conflict.result() == http::status::conflict);
  CHECK(body_of(conflict)["code"] == "conflict");
  CHECK(body_of(conflict)["error"].get<std::string>().find("Healthy") != std::string::npos);

  auto full = f.call(http::verb::post, "/api/v1/rollouts/orders-api/promote?full=1");
  REQUIRE(full.result() == http::status::ok);
  CHECK(body_of(full)["phase"] == "Healthy");

  CHECK(f.call(http::verb::post, "/api/v1/rollouts/inventory/undo?revision=6").result() ==
        http::status::ok);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/inventory/abort").result() == http::status::ok);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/inventory/retry").result() == http::status::ok);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/inventory/pause").result() == http::status::ok);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/inventory/resume").result() == http::status::ok);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/inventory/undo?revision=99").result() ==
        http::status::bad_request);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/inventory/abort?full=1").result() ==
        http::status::bad_request);
  CHECK(f.call(http::verb::post, "/api/v1/sync").result() == http::status::ok);
}

TEST_CASE("auth: 401 without or with a wrong token, 403 when the role is too weak", "[api][auth]") {
  Fixture f;
  f.enable_auth();
  auto none = f.call(http::verb::get, "/api/v1/rollouts");
  REQUIRE(none.result() == http::status::unauthorized);
  CHECK(body_of(none)["code"] == "unauthorized");
  CHECK(f.call(http::verb::get, "/api/v1/rollouts", "wrong").result() ==
        http::status::unauthorized);
  CHECK(f.call(http::verb::get, "/api/v1/source").result() == http::status::unauthorized);
  CHECK(f.call(http::verb::get, "/api/v1/rollouts", kViewToken).result() == http::status::ok);

  auto weak = f.call(http::verb::post, "/api/v1/rollouts/orders-api/promote", kViewToken);
  REQUIRE(weak.result() == http::status::forbidden);
  CHECK(body_of(weak)["code"] == "forbidden");
  CHECK(f.call(http::verb::post, "/api/v1/sync", kViewToken).result() == http::status::forbidden);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/orders-api/promote").result() ==
        http::status::unauthorized);

  REQUIRE(
      f.call(http::verb::post, "/api/v1/rollouts/orders-api/promote", kDeployToken).result() ==
      http::status::ok);
  CHECK(f.facade.last_actor() == "ci");
  REQUIRE(f.call(http::verb::post, "/api/v1/rollouts/orders-api/pause", kAdminToken).result() ==
          http::status::ok);
  CHECK(f.facade.last_actor() == default_token_name(kAdminToken));

  // Health, readiness, metrics and the dashboard's static files need no token.
  CHECK(f.call(http::verb::get, "/healthz").result() == http::status::ok);
  CHECK(f.call(http::verb::get, "/readyz").result() == http::status::ok);
  CHECK(f.call(http::verb::get, "/metrics").result() == http::status::ok);
  CHECK(f.call(http::verb::get, "/ui/").result() == http::status::ok);
}

TEST_CASE("metrics: facade text plus process metrics", "[api][metrics]") {
  Fixture f;
  auto res = f.call(http::verb::get, "/metrics");
  REQUIRE(res.result() == http::status::ok);
  CHECK(res[http::field::content_type].starts_with("text/plain"));
  const std::string& body = res.body();
  CHECK(body.find("sluice_rollout_phase{rollout=\"orders-api\",phase=\"Paused\"} 1") !=
        std::string::npos);
  CHECK(body.find("\nprocess_resident_memory_bytes ") != std::string::npos);
  CHECK(body.find("\nprocess_cpu_seconds_total ") != std::string::npos);
  CHECK(body.find("\nprocess_open_fds ") != std::string::npos);
}

TEST_CASE("watch requests become event streams with the resume point", "[api][sse]") {
  Fixture f;
  Request req{http::verb::get, "/api/v1/rollouts/orders-api/events?watch=1", 11};
  req.set("Last-Event-ID", "1");
  auto result = handle(req, f.ctx);
  auto* stream = std::get_if<EventStream>(&result);
  REQUIRE(stream);
  CHECK(stream->rollout == "orders-api");
  CHECK(stream->after_id == 1);

  Request all{http::verb::get, "/api/v1/rollouts?watch=1", 11};
  auto all_result = handle(all, f.ctx);
  REQUIRE(std::get_if<EventStream>(&all_result));
  CHECK(std::get<EventStream>(all_result).rollout.empty());

  Request bad{http::verb::get, "/api/v1/rollouts/orders-api/events?watch=1", 11};
  bad.set("Last-Event-ID", "x");
  auto bad_result = handle(bad, f.ctx);
  REQUIRE(std::get_if<Response>(&bad_result));
  CHECK(std::get<Response>(bad_result).result() == http::status::bad_request);
}

TEST_CASE("body over the limit is 413", "[api][router]") {
  Fixture f;
  f.ctx.body_limit = 16;
  auto res = f.call(http::verb::post, "/api/v1/webhooks/github", "", std::string(17, 'x'));
  REQUIRE(res.result() == http::status::payload_too_large);
  CHECK(body_of(res)["code"] == "payload_too_large");
}

TEST_CASE("dashboard: files served, traversal refused", "[api][ui]") {
  Fixture f;
  auto index = f.call(http::verb::get, "/ui/");
  REQUIRE(index.result() == http::status::ok);
  CHECK(index[http::field::content_type].starts_with("text/html"));
  CHECK(index.body().find("<html") != std::string::npos);
  auto js = f.call(http::verb::get, "/ui/app.js");
  REQUIRE(js.result() == http::status::ok);
  CHECK(js[http::field::content_type].starts_with("text/javascript"));
  CHECK(f.call(http::verb::get, "/ui").result() == http::status::moved_permanently);

  for (const char* evil : {"/ui/../api/auth.cc", "/ui/..%2f..%2fetc%2fpasswd", "/ui/%2e%2e/x",
                           "/ui/.hidden", "/ui/a/../../b", "/ui/..\\x", "/ui/%00", "/ui/%zz"}) {
    INFO(evil);
    auto res = f.call(http::verb::get, evil);
    CHECK(res.result() != http::status::ok);
    CHECK(res.body().find("root:") == std::string::npos);
  }
  CHECK(f.call(http::verb::get, "/ui/missing.js").result() == http::status::not_found);
}

TEST_CASE("github webhook: real HMAC good, bad, missing, only push refreshes", "[api][webhook]") {
  Fixture f;
  const std::string body = R"({"ref":"refs/heads/main"})";
  auto send = [&](const std::string& signature, const std::string& event) {
    Request req{http::verb::post, "/api/v1/webhooks/github", 11};
    if (!signature.empty()) req.set("X-Hub-Signature-256", signature);
    req.set("X-GitHub-Event", event);
    req.body() = body;
    req.prepare_payload();
    return f.run(req);
  };
  std::string good = sluice::gitops::github_signature("gh-secret", body);
  REQUIRE(good.starts_with("sha256="));
  REQUIRE(good.size() == 7 + 64);

  CHECK(send(good, "ping").result() == http::status::ok);
  CHECK(f.facade.refresh_requests() == 0);
  CHECK(send(good, "push").result() == http::status::accepted);
  CHECK(f.facade.refresh_requests() == 1);

  std::string tampered = good;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  CHECK(send(tampered, "push").result() == http::status::unauthorized);
  CHECK(send("", "push").result() == http::status::unauthorized);
  CHECK(send(sluice::gitops::github_signature("other-secret", body), "push").result() ==
        http::status::unauthorized);
  CHECK(send("sha1=" + good.substr(7, 40), "push").result() == http::status::unauthorized);
  CHECK(f.facade.refresh_requests() == 1);

  // Webhooks are authenticated by their signature, not by bearer tokens.
  f.enable_auth();
  CHECK(send(good, "push").result() == http::status::accepted);
  CHECK(f.facade.refresh_requests() == 2);
}

TEST_CASE("gitlab webhook: token compared", "[api][webhook]") {
  Fixture f;
  auto send = [&](const std::string& token) {
    Request req{http::verb::post, "/api/v1/webhooks/gitlab", 11};
    if (!token.empty()) req.set("X-Gitlab-Token", token);
    req.set("X-Gitlab-Event", "Push Hook");
    req.body() = "{}";
    req.prepare_payload();
    return f.run(req);
  };
  CHECK(send("gl-token").result() == http::status::accepted);
  CHECK(send("gl-token2").result() == http::status::unauthorized);
  CHECK(send("").result() == http::status::unauthorized);
  CHECK(f.facade.refresh_requests() == 1);

  WebhookSecrets none;
  ApiContext ctx{f.facade, f.auth, none, 1 << 20};
  Request req{http::verb::post, "/api/v1/webhooks/gitlab", 11};
  auto result = handle(req, ctx);
  CHECK(std::get<Response>(result).result() == http::status::not_found);
}

TEST_CASE("webhook_verify primitives", "[gitops][webhook]") {
  using namespace sluice::gitops;
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  CHECK(github_signature("Jefe", "what do ya want for nothing?") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(verify_github_signature(
      "Jefe", "what do ya want for nothing?",
      "sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"));
  CHECK_FALSE(verify_github_signature("", "x", github_signature("", "x")));
  CHECK_FALSE(verify_github_signature("k", "x", "sha256=zz"));
  CHECK(verify_gitlab_token("abc", "abc"));
  CHECK_FALSE(verify_gitlab_token("abc", "abcd"));
  CHECK_FALSE(verify_gitlab_token("", ""));
  CHECK(constant_time_equal("same", "same"));
  CHECK_FALSE(constant_time_equal("same", "sane"));
}

TEST_CASE("query and percent decoding", "[api][router]") {
  auto q = parse_query("a=1&b=x%20y&flag&");
  REQUIRE(q);
  CHECK((*q)["a"] == "1");
  CHECK((*q)["b"] == "x y");
  CHECK(q->count("flag") == 1);
  CHECK_FALSE(parse_query("a=%4"));
  CHECK(percent_decode("%2e%2E") == "..");
  CHECK_FALSE(percent_decode("%"));
}

TEST_CASE("the rollout object stream: one rollout or all, 404 for an unknown one, viewer auth",
          "[api][sse]") {
  Fixture f;
  Request one{http::verb::get, "/api/v1/stream/rollouts?name=orders-api", 11};
  auto one_result = handle(one, f.ctx);
  auto* stream = std::get_if<EventStream>(&one_result);
  REQUIRE(stream);
  CHECK(stream->rollout == "orders-api");
  CHECK(stream->objects);

  Request all{http::verb::get, "/api/v1/stream/rollouts", 11};
  auto all_result = handle(all, f.ctx);
  REQUIRE(std::get_if<EventStream>(&all_result));
  CHECK(std::get<EventStream>(all_result).rollout.empty());
  CHECK(std::get<EventStream>(all_result).objects);
  // The events stream stays an events stream.
  Request events{http::verb::get, "/api/v1/rollouts/orders-api/events?watch=1", 11};
  auto events_result = handle(events, f.ctx);
  REQUIRE(std::get_if<EventStream>(&events_result));
  CHECK_FALSE(std::get<EventStream>(events_result).objects);

  CHECK(f.call(http::verb::get, "/api/v1/stream/rollouts?name=nope").result() ==
        http::status::not_found);
  CHECK(f.call(http::verb::post, "/api/v1/stream/rollouts").result() ==
        http::status::method_not_allowed);
  f.enable_auth();
  CHECK(f.call(http::verb::get, "/api/v1/stream/rollouts?name=orders-api").result() ==
        http::status::unauthorized);
}

TEST_CASE("logs: text per instance, prefixed when several, viewer role, bad query 400",
          "[api][logs]") {
  Fixture f;
  f.enable_auth();
  using sluice::runtime::InstanceLog;
  f.facade.on_logs = [](const sluice::controller::LogsRequest& r)
      -> sluice::Result<std::vector<InstanceLog>> {
    if (r.rollout != "orders-api") return sluice::not_found("rollout " + r.rollout + " not found");
    if (r.revision && *r.revision == 9)
      return sluice::not_found("rollout orders-api has no revision 9 in its history");
    std::vector<InstanceLog> out;
    out.push_back({"orders-api-1-0", 1, true, "started\nserving\n", false, 15});
    if (!r.revision) out.push_back({"orders-api-2-0", 2, false, "crashed: exit 3", false, 15});
    return out;
  };

  auto one = f.call(http::verb::get, "/api/v1/rollouts/orders-api/logs?revision=1&tail=5",
                    kViewToken);
  REQUIRE(one.result() == http::status::ok);
  CHECK(std::string(one[http::field::content_type]).rfind("text/plain", 0) == 0);
  CHECK(one.body() == "started\nserving\n");
  CHECK(f.facade.last_logs_request.tail_lines == 5);
  CHECK(f.facade.last_logs_request.revision == 1);

  // Two instances: each line names its instance; a last line without a newline gets one.
  auto both = f.call(http::verb::get, "/api/v1/rollouts/orders-api/logs", kViewToken);
  REQUIRE(both.result() == http::status::ok);
  CHECK(both.body() ==
        "[orders-api-1-0] started\n[orders-api-1-0] serving\n[orders-api-2-0] crashed: exit 3\n");

  auto unknown = f.call(http::verb::get, "/api/v1/rollouts/nope/logs", kViewToken);
  CHECK(unknown.result() == http::status::not_found);
  CHECK(json::parse(unknown.body())["error"] == "rollout nope not found");
  auto gone = f.call(http::verb::get, "/api/v1/rollouts/orders-api/logs?revision=9", kViewToken);
  CHECK(gone.result() == http::status::not_found);

  for (const char* bad : {"?tail=-1", "?tail=x", "?tail=100001", "?revision=0", "?revision=a"}) {
    INFO(bad);
    auto res = f.call(http::verb::get, std::string("/api/v1/rollouts/orders-api/logs") + bad,
                      kViewToken);
    CHECK(res.result() == http::status::bad_request);
  }
  CHECK(f.call(http::verb::get, "/api/v1/rollouts/orders-api/logs").result() ==
        http::status::unauthorized);
  CHECK(f.call(http::verb::post, "/api/v1/rollouts/orders-api/logs", kViewToken).result() ==
        http::status::method_not_allowed);

  // follow=1 becomes a log stream of the same request, after the same checks.
  Request req{http::verb::get,
              "/api/v1/rollouts/orders-api/logs?instance=orders-api-1-0&follow=1", 11};
  req.set(http::field::authorization, "Bearer " + kViewToken);
  HandleResult streamed = handle(req, f.ctx);
  auto* stream = std::get_if<LogStream>(&streamed);
  REQUIRE(stream != nullptr);
  CHECK(stream->request.instance == "orders-api-1-0");
  Request missing{http::verb::get, "/api/v1/rollouts/nope/logs?follow=1", 11};
  missing.set(http::field::authorization, "Bearer " + kViewToken);
  HandleResult refused = handle(missing, f.ctx);
  REQUIRE(std::get_if<Response>(&refused) != nullptr);
  CHECK(std::get<Response>(refused).result() == http::status::not_found);
}
