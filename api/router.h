// The HTTP API as a pure function (CONVENTIONS.md pattern 9): handle() maps a request to a
// result without touching sockets, so every route, auth rule and error is unit-testable.
//
// A result is one of:
// - Response: answer now.
// - EventStream: switch this connection to Server-Sent Events for `rollout` ("" = all),
//   replaying recorded events with id > after_id first (Last-Event-ID or ?after=N), or
//   (objects) streaming the rollout objects themselves.
// - LogStream: switch this connection to a text/plain stream of instance logs (follow).
// - Deferred: an asynchronous operation (verbs, sync). The session calls start(respond) once;
//   `respond` may be called from any thread, exactly once.
//
// Thread safety: handle() is reentrant; it only calls the thread-safe ControlFacade.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/auth.h"
#include "api/http_types.h"
#include "controller/facade.h"

namespace sluice::api {

struct WebhookSecrets {
  std::optional<std::string> github_secret;  // HMAC key for X-Hub-Signature-256
  std::optional<std::string> gitlab_token;   // expected X-Gitlab-Token
};

struct ApiContext {
  controller::ControlFacade& facade;
  const Authenticator& auth;
  const WebhookSecrets& webhooks;
  size_t body_limit = 1 << 20;  // 1 MiB; larger bodies get 413
};

struct EventStream {
  std::string rollout;  // "" = every rollout
  uint64_t after_id = 0;
  // GET /api/v1/stream/rollouts[?name=N]: rollout objects ({"type","rollout"}, SSE event name
  // "rollout"), the current ones first, then each published change; no recorded events.
  bool objects = false;
};

// GET .../logs?follow=1: stream the instance output of `request` as text/plain, polling for
// new output, until the client leaves (the server bounds its length, server.h).
struct LogStream {
  controller::LogsRequest request;
};

using Respond = std::function<void(Response)>;
struct Deferred {
  std::function<void(Respond)> start;
};

using HandleResult = std::variant<Response, EventStream, Deferred, LogStream>;

HandleResult handle(const Request& request, const ApiContext& ctx);

// The most lines ?tail= may ask for (the byte bound, LogsRequest::max_bytes, applies as well).
inline constexpr int64_t kMaxLogTailLines = 100'000;

// Helpers exposed for tests and the client.
// Instance logs as one text: with prefix, every line starts with "[<instance id>] ".
std::string format_instance_logs(const std::vector<runtime::InstanceLog>& logs, bool prefix);
// Splits "a=1&b=x%20y" into a map (later keys win). nullopt on a malformed %-escape.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);
// Decodes %XX escapes; nullopt when malformed. '+' is kept literally (paths, not forms).
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace sluice::api
