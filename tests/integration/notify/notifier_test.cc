// notify::Notifier against real HTTP receivers on loopback (tests/support/http_receiver): retries
// with backoff until a 2xx, give-ups and drops counted, a hanging target that delays neither
// submit() nor another target, the HMAC signature, the rollout filter, the idempotency header.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>

#include "notify/message.h"
#include "notify/notifier.h"
#include "tests/support/http_receiver/http_receiver.h"
#include "tests/support/process/test_process.h"

using namespace std::chrono_literals;
using nlohmann::json;
using sluice::Duration;
using sluice::notify::Notifier;
using sluice::notify::NotifierOptions;
using sluice::notify::TargetConfig;
using sluice::notify::TargetKind;
using sluice::testing::HttpReceiver;
using sluice::testing::ReceiverAnswer;
using sluice::testing::ReceivedRequest;
using sluice::testing::TempDir;

namespace {

json aborted(uint64_t id, const std::string& rollout = "shop") {
  return {{"id", id},         {"time", "2026-12-07T21:00:00Z"},
          {"rollout", rollout}, {"revision", 2},
          {"version", "v2"},  {"commit", "0123456789abcdef"},
          {"type", "Warning"}, {"from", "Progressing"},
          {"to", "Degraded"}, {"reason", "Aborted"},
          {"message", "aborted by test"}, {"actor", "test"},
          {"evidence", json::object()}};
}

TargetConfig webhook(const std::string& name, const std::string& url) {
  TargetConfig t;
  t.name = name;
  t.kind = TargetKind::kWebhook;
  t.url = url;
  t.triggers = {"on-rollout-aborted"};
  t.where = "test.yaml:1";
  return t;
}

NotifierOptions fast() {
  NotifierOptions o;
  o.first_backoff = Duration(100);
  o.max_backoff = Duration(400);
  o.attempt_timeout = Duration(2'000);
  o.max_attempts = 4;
  return o;
}

std::unique_ptr<Notifier> make(std::vector<TargetConfig> targets, NotifierOptions o = fast()) {
  auto n = Notifier::create(std::move(targets), o);
  REQUIRE(n.is_ok());
  (*n)->start();
  return std::move(n).value();
}

}  // namespace

TEST_CASE("a target that answers 500 twice and then 200 receives the notification",
          "[notify][integration]") {
  HttpReceiver receiver([](const ReceivedRequest&, size_t i) {
    return ReceiverAnswer{i < 2 ? 500 : 200};
  });
  auto n = make({webhook("ops", receiver.url("/hook"))});
  n->submit(aborted(5));
  REQUIRE(sluice::testing::poll_until(
      [&] { return n->count("ops", "on-rollout-aborted", "sent") == 1; }, 10s));
  const auto seen = receiver.seen();
  REQUIRE(seen.size() == 3);
  // The same delivery id on every attempt: the receiver can dedupe retries.
  for (const auto& r : seen) {
    CHECK(r.header("x-sluice-delivery") == "5.on-rollout-aborted");
    CHECK(r.body == seen[0].body);
  }
  // Backoff: the retries wait (100 ms, then 200 ms).
  CHECK(seen[1].at - seen[0].at >= 90ms);
  CHECK(seen[2].at - seen[1].at >= 190ms);
  const json body = json::parse(seen[2].body);
  CHECK(body["trigger"] == "on-rollout-aborted");
  CHECK(body["rollout"] == "shop");
  CHECK(body["event"]["id"] == 5);
  CHECK(n->count("ops", "on-rollout-aborted", "failed") == 0);
  CHECK(n->metrics_text().find(
            "sluice_notifications_total{target=\"ops\",trigger=\"on-rollout-aborted\",result="
            "\"sent\"} 1") != std::string::npos);
}

TEST_CASE("a target that keeps failing is given up after the bounded attempts and counted",
          "[notify][integration]") {
  HttpReceiver failing([](const ReceivedRequest&, size_t) { return ReceiverAnswer{503}; });
  HttpReceiver refusing([](const ReceivedRequest&, size_t) { return ReceiverAnswer{400}; });
  auto n = make({webhook("down", failing.url()), webhook("picky", refusing.url())});
  n->submit(aborted(9));
  REQUIRE(sluice::testing::poll_until(
      [&] {
        return n->count("down", "on-rollout-aborted", "failed") == 1 &&
               n->count("picky", "on-rollout-aborted", "failed") == 1;
      },
      10s));
  CHECK(failing.seen().size() == 4);   // max_attempts
  CHECK(refusing.seen().size() == 1);  // a 4xx other than 408/429 is not retried
  CHECK(n->count("down", "on-rollout-aborted", "sent") == 0);
}

TEST_CASE("a hanging target delays neither submit nor another target", "[notify][integration]") {
  HttpReceiver hanging([](const ReceivedRequest&, size_t) { return ReceiverAnswer{200, true}; });
  HttpReceiver healthy;
  NotifierOptions o = fast();
  o.attempt_timeout = Duration(30'000);  // longer than this test: the exchange stays hanging
  auto n = make({webhook("hangs", hanging.url()), webhook("works", healthy.url())}, o);
  const auto before = std::chrono::steady_clock::now();
  for (uint64_t id = 1; id <= 5; ++id) n->submit(aborted(id));
  const auto submit_time = std::chrono::steady_clock::now() - before;
  REQUIRE(healthy.wait_for(5, 5s));
  const auto delivered = std::chrono::steady_clock::now() - before;
  WARN("submit of 5 events: "
       << std::chrono::duration_cast<std::chrono::microseconds>(submit_time).count()
       << " us; 5 deliveries to the healthy target beside a hanging one: "
       << std::chrono::duration_cast<std::chrono::milliseconds>(delivered).count() << " ms");
  CHECK(submit_time < 1s);  // generous: submit only queues
  CHECK(hanging.seen().size() == 1);  // one in flight, the rest wait in its own queue
  // Stop: the hanging delivery and the four behind it are counted as dropped, within the drain.
  const auto stop_start = std::chrono::steady_clock::now();
  n->stop(Duration(300));
  CHECK(std::chrono::steady_clock::now() - stop_start < 5s);
  CHECK(n->count("hangs", "on-rollout-aborted", "dropped") == 5);
  CHECK(n->count("works", "on-rollout-aborted", "sent") == 5);
}

TEST_CASE("queue overflow is counted as dropped, never silently lost", "[notify][integration]") {
  HttpReceiver hanging([](const ReceivedRequest&, size_t) { return ReceiverAnswer{200, true}; });
  NotifierOptions o = fast();
  o.queue_limit = 3;
  o.attempt_timeout = Duration(30'000);
  auto n = make({webhook("small", hanging.url())}, o);
  for (uint64_t id = 1; id <= 10; ++id) n->submit(aborted(id));
  CHECK(n->count("small", "on-rollout-aborted", "dropped") == 7);
  n->stop(Duration(0));
  CHECK(n->count("small", "on-rollout-aborted", "dropped") == 10);
}

TEST_CASE("the HMAC header verifies, headers are sent, rollouts are filtered, replays ignored",
          "[notify][integration]") {
  HttpReceiver receiver;
  TempDir dir;
  const std::string key = "k3y-with-entropy";
  std::ofstream(dir.file("hmac")) << key << "\n";
  TargetConfig t = webhook("ops", receiver.url("/in"));
  t.secret_file = dir.file("hmac");
  t.headers = {{"X-Team", "payments"}};
  t.rollouts = {"orders-api"};
  auto n = make({t});
  n->submit(aborted(1, "shop"));        // filtered out
  n->submit(aborted(2, "orders-api"));  // delivered
  n->submit(aborted(2, "orders-api"));  // a replay of the same id: ignored
  REQUIRE(receiver.wait_for(1, 5s));
  n->stop(Duration(2'000));
  const auto seen = receiver.seen();
  REQUIRE(seen.size() == 1);
  const auto& r = seen[0];
  CHECK(json::parse(r.body)["rollout"] == "orders-api");
  CHECK(r.header("x-team") == "payments");
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.header("x-sluice-signature-256") ==
        "sha256=" + sluice::notify::hmac_sha256_hex(key, r.body));
  CHECK(r.header("x-sluice-signature-256") !=
        "sha256=" + sluice::notify::hmac_sha256_hex("wrong", r.body));
}

TEST_CASE("a Slack target posts the Slack body to the URL read from its file",
          "[notify][integration]") {
  HttpReceiver receiver;
  TempDir dir;
  std::ofstream(dir.file("slack-url")) << receiver.url("/services/T000/B000/XXXX") << "\n";
  TargetConfig t;
  t.name = "chat";
  t.kind = TargetKind::kSlack;
  t.webhook_url_file = dir.file("slack-url");
  t.triggers = {"on-rollout-aborted"};
  auto n = make({t});
  n->submit(aborted(3));
  REQUIRE(receiver.wait_for(1, 5s));
  const auto r = receiver.seen()[0];
  CHECK(r.target == "/services/T000/B000/XXXX");
  const json body = json::parse(r.body);
  CHECK(std::string(body["text"]).find("shop") != std::string::npos);
  CHECK(body["attachments"][0]["title_link"] == "http://127.0.0.1:7070/ui/#/rollouts/shop");
}

TEST_CASE("unreadable secret files fail creation naming the field and file, not the content",
          "[notify][integration]") {
  TargetConfig t;
  t.name = "chat";
  t.kind = TargetKind::kSlack;
  t.webhook_url_file = "/nonexistent/slack";
  t.triggers = {"on-rollout-aborted"};
  t.where = "sluice.yaml:7";
  auto n = Notifier::create({t}, NotifierOptions{});
  REQUIRE_FALSE(n.is_ok());
  CHECK(n.status().message() ==
        "sluice.yaml:7: notifications[chat].slack.webhookUrlFile: cannot read /nonexistent/slack");

  TempDir dir;
  std::ofstream(dir.file("slack")) << "not a url with secret-token-123";
  t.webhook_url_file = dir.file("slack");
  auto bad = Notifier::create({t}, NotifierOptions{});
  REQUIRE_FALSE(bad.is_ok());
  CHECK(bad.status().message().find("secret-token-123") == std::string::npos);
  CHECK(bad.status().message().find("slack.webhookUrlFile") != std::string::npos);
}
