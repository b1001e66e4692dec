#include "api/router.h"

#include <charconv>
#include <vector>

#include "api/process_metrics.h"
#include "api/ui_assets.h"
#include "gitops/webhook_verify.h"

namespace sluice::api {
namespace {

using controller::Verb;
using nlohmann::json;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t next = path.find('/', i);
    if (next == std::string_view::npos) next = path.size();
    if (next > i) parts.push_back(path.substr(i, next - i));
    i = next + 1;
  }
  return parts;
}

Response method_not_allowed(std::string_view allow) {
  Response res = error_response(http::status::method_not_allowed, "method_not_allowed",
                                "method not allowed; use " + std::string(allow));
  res.set(http::field::allow, to_bsv(allow));
  return res;
}

Response not_found_path(std::string_view path) {
  return error_response(http::status::not_found, "not_found",
                        "no such endpoint: " + std::string(path));
}

Response unknown_rollout(const std::string& name) {
  return error_response(http::status::not_found, "not_found", "rollout '" + name + "' not found");
}

bool truthy(const std::map<std::string, std::string>& query, const std::string& key) {
  auto it = query.find(key);
  if (it == query.end()) return false;
  return it->second == "1" || it->second == "true" || it->second.empty();
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<Verb> parse_verb(std::string_view s) {
  if (s == "promote") return Verb::kPromote;
  if (s == "abort") return Verb::kAbort;
  if (s == "retry") return Verb::kRetry;
  if (s == "pause") return Verb::kPause;
  if (s == "resume") return Verb::kResume;
  if (s == "undo") return Verb::kUndo;
  return std::nullopt;
}

// The authorization decision for one request: an identity, or the 401/403 response.
struct Authorized {
  std::optional<Identity> identity;
  std::optional<Response> denied;
};

Authorized authorize(const Request& req, const ApiContext& ctx, Role needed) {
  auto id = ctx.auth.authenticate(to_sv(req[http::field::authorization]));
  if (!id.is_ok()) {
    Response res =
        error_response(http::status::unauthorized, "unauthorized", id.status().message());
    res.set(http::field::www_authenticate, "Bearer realm=\"sluice\"");
    return {std::nullopt, std::move(res)};
  }
  if (id->role < needed) {
    return {std::nullopt,
            error_response(http::status::forbidden, "forbidden",
                           std::string("role '") + role_name(id->role) + "' may not do this; '" +
                               role_name(needed) + "' is required")};
  }
  return {*id, std::nullopt};
}

Deferred make_deferred_verb(controller::ControlFacade& facade, controller::VerbRequest vr) {
  return Deferred{[&facade, vr = std::move(vr)](Respond respond) {
    facade.command(vr, [respond = std::move(respond)](Result<json> result) {
      if (result.is_ok())
        respond(json_response(http::status::ok, *result));
      else
        respond(status_response(result.status()));
    });
  }};
}

HandleResult handle_verb(const Request& req, const ApiContext& ctx, const std::string& name,
                         Verb verb, const std::map<std::string, std::string>& query) {
  auto auth = authorize(req, ctx, Role::kDeployer);
  if (auth.denied) return std::move(*auth.denied);
  controller::VerbRequest vr;
  vr.rollout = name;
  vr.verb = verb;
  vr.actor = auth.identity->name;
  vr.full = truthy(query, "full");
  if (auto it = query.find("revision"); it != query.end()) {
    auto rev = parse_int(it->second);
    if (!rev || *rev <= 0)
      return error_response(http::status::bad_request, "bad_request",
                            "revision must be a positive integer");
    vr.revision = *rev;
  }
  // An optional JSON body mirrors the query: {"full": true} or {"revision": 3}.
  if (!req.body().empty()) {
    json body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return error_response(http::status::bad_request, "bad_request",
                            "request body is not a JSON object");
    if (auto f = body.find("full"); f != body.end()) {
      if (!f->is_boolean())
        return error_response(http::status::bad_request, "bad_request", "'full' must be a bool");
      vr.full = f->get<bool>();
    }
    if (auto r = body.find("revision"); r != body.end()) {
      if (!r->is_number_integer() || r->get<int64_t>() <= 0)
        return error_response(http::status::bad_request, "bad_request",
                              "'revision' must be a positive integer");
      vr.revision = r->get<int64_t>();
    }
  }
  if (vr.full && verb != Verb::kPromote)
    return error_response(http::status::bad_request, "bad_request", "full applies to promote only");
  if (vr.revision && verb != Verb::kUndo)
    return error_response(http::status::bad_request, "bad_request",
                          "revision applies to undo only");
  if (!ctx.facade.get_rollout(name)) return unknown_rollout(name);
  return make_deferred_verb(ctx.facade, std::move(vr));
}

std::optional<uint64_t> last_event_id(const Request& req,
                                      const std::map<std::string, std::string>& query) {
  std::string_view text = to_sv(req["Last-Event-ID"]);
  if (text.empty()) {
    auto it = query.find("after");
    if (it == query.end()) return uint64_t{0};
    text = it->second;
  }
  auto v = parse_int(text);
  if (!v || *v < 0) return std::nullopt;
  return static_cast<uint64_t>(*v);
}

HandleResult handle_events(const Request& req, const ApiContext& ctx, const std::string& rollout,
                           const std::map<std::string, std::string>& query) {
  auto after = last_event_id(req, query);
  if (!after)
    return error_response(http::status::bad_request, "bad_request",
                          "Last-Event-ID / after must be a non-negative integer");
  if (truthy(query, "watch")) return EventStream{rollout, *after};
  json events = ctx.facade.events(rollout, *after);
  if (events.is_array()) events = json{{"items", std::move(events)}};
  return json_response(http::status::ok, events);
}

Response handle_webhook(const Request& req, const ApiContext& ctx, std::string_view provider) {
  if (provider == "github") {
    if (!ctx.webhooks.github_secret)
      return error_response(http::status::not_found, "not_found",
                            "GitHub webhook not configured (webhooks.github.secretFile)");
    if (!gitops::verify_github_signature(*ctx.webhooks.github_secret, req.body(),
                                         to_sv(req["X-Hub-Signature-256"])))
      return error_response(http::status::unauthorized, "unauthorized",
                            "bad or missing X-Hub-Signature-256");
    std::string_view event = to_sv(req["X-GitHub-Event"]);
    if (event == "ping") return json_response(http::status::ok, {{"status", "pong"}});
    if (event != "push")
      return json_response(http::status::ok,
                           {{"status", "ignored"}, {"event", std::string(event)}});
    ctx.facade.request_refresh("github push webhook");
    return json_response(http::status::accepted, {{"status", "refresh requested"}});
  }
  if (!ctx.webhooks.gitlab_token)
    return error_response(http::status::not_found, "not_found",
                          "GitLab webhook not configured (webhooks.gitlab.tokenFile)");
  if (!gitops::verify_gitlab_token(*ctx.webhooks.gitlab_token, to_sv(req["X-Gitlab-Token"])))
    return error_response(http::status::unauthorized, "unauthorized",
                          "bad or missing X-Gitlab-Token");
  std::string_view event = to_sv(req["X-Gitlab-Event"]);
  if (!event.empty() && event != "Push Hook")
    return json_response(http::status::ok, {{"status", "ignored"}, {"event", std::string(event)}});
  ctx.facade.request_refresh("gitlab push webhook");
  return json_response(http::status::accepted, {{"status", "refresh requested"}});
}

Response handle_ui(std::string_view raw_path) {
  // raw_path is what follows "/ui/". Decode, then refuse anything that is not one plain name:
  // lookup is by exact embedded name anyway, but reject traversal attempts explicitly.
  auto decoded = percent_decode(raw_path);
  if (!decoded) return error_response(http::status::bad_request, "bad_request", "bad path");
  std::string name = decoded->empty() ? "index.html" : *decoded;
  if (name.find("..") != std::string::npos || name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos || name.find('\0') != std::string::npos ||
      name.front() == '.')
    return error_response(http::status::bad_request, "bad_request", "bad path");
  const UiAsset* asset = find_ui_asset(name);
  if (!asset) return not_found_path("/ui/" + name);
  Response res = text_response(http::status::ok, ui_content_type(name), std::string(asset->body));
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  return res;
}

Response redirect(std::string_view location) {
  Response res{http::status::moved_permanently, 11};
  res.set(http::field::location, to_bsv(location));
  res.prepare_payload();
  return res;
}

// GET /api/v1/rollouts/{name}/logs?revision=N&instance=ID&tail=N: text/plain, like `kubectl
// logs`; with several instances each line starts with "[<instance id>] " (kubectl --prefix).
HandleResult handle_logs(const ApiContext& ctx, const std::string& name,
                         const std::map<std::string, std::string>& query) {
  controller::LogsRequest request;
  request.rollout = name;
  if (auto it = query.find("revision"); it != query.end()) {
    auto rev = parse_int(it->second);
    if (!rev || *rev <= 0)
      return error_response(http::status::bad_request, "bad_request",
                            "revision must be a positive integer (got '" + it->second + "')");
    request.revision = *rev;
  }
  if (auto it = query.find("instance"); it != query.end()) request.instance = it->second;
  if (auto it = query.find("tail"); it != query.end()) {
    auto tail = parse_int(it->second);
    if (!tail || *tail < 0 || *tail > kMaxLogTailLines)
      return error_response(http::status::bad_request, "bad_request",
                            "tail must be a number of lines from 0 to " +
                                std::to_string(kMaxLogTailLines) + " (got '" + it->second + "')");
    request.tail_lines = static_cast<size_t>(*tail);
  }
  auto logs = ctx.facade.logs(request);
  if (!logs.is_ok()) return status_response(logs.status());
  if (truthy(query, "follow")) return LogStream{std::move(request)};
  return text_response(http::status::ok, "text/plain; charset=utf-8",
                       format_instance_logs(*logs, logs->size() > 1));
}

}  // namespace

std::string format_instance_logs(const std::vector<runtime::InstanceLog>& logs, bool prefix) {
  std::string out;
  for (const auto& log : logs) {
    const std::string tag = prefix ? "[" + log.instance + "] " : std::string();
    size_t start = 0;
    while (start < log.text.size()) {
      size_t end = log.text.find('\n', start);
      if (end == std::string::npos) end = log.text.size();
      out += tag;
      out.append(log.text, start, end - start);
      out += '\n';
      start = end + 1;
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int hi = hex_digit(text[i + 1]);
    int lo = hex_digit(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < query.size()) {
    size_t amp = query.find('&', i);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(i, amp - i);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq));
      auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
      if (!key || !value) return std::nullopt;
      out[*key] = *value;
    }
    i = amp + 1;
  }
  return out;
}

HandleResult handle(const Request& req, const ApiContext& ctx) {
  std::string_view target = to_sv(req.target());
  size_t qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  auto query = parse_query(qpos == std::string_view::npos ? "" : target.substr(qpos + 1));
  if (!query) return error_response(http::status::bad_request, "bad_request", "malformed query");
  if (req.body().size() > ctx.body_limit)
    return error_response(http::status::payload_too_large, "payload_too_large",
                          "request body exceeds " + std::to_string(ctx.body_limit) + " bytes");
  const auto method = req.method();
  const bool get = method == http::verb::get || method == http::verb::head;
  const bool post = method == http::verb::post;

  if (path == "/healthz") {
    if (!get) return method_not_allowed("GET");
    return json_response(http::status::ok, {{"status", "ok"}});
  }
  if (path == "/readyz") {
    if (!get) return method_not_allowed("GET");
    if (ctx.facade.ready()) return json_response(http::status::ok, {{"status", "ready"}});
    nlohmann::json body = {{"status", "not ready"}};
    if (std::string reason = ctx.facade.not_ready_reason(); !reason.empty()) {
      body["reason"] = reason;
    }
    return json_response(http::status::service_unavailable, body);
  }
  if (path == "/metrics") {
    if (!get) return method_not_allowed("GET");
    return text_response(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                         ctx.facade.metrics_text() + process_metrics_text());
  }
  if (path == "/" || path == "/ui") return redirect("/ui/");
  if (path.substr(0, 4) == "/ui/") {
    if (!get) return method_not_allowed("GET");
    return handle_ui(path.substr(4));
  }
  if (path.substr(0, 8) != "/api/v1/") return not_found_path(path);

  std::vector<std::string> parts;
  for (auto raw : split_path(path.substr(8))) {
    auto decoded = percent_decode(raw);
    if (!decoded) return error_response(http::status::bad_request, "bad_request", "bad path");
    parts.push_back(std::move(*decoded));
  }
  if (parts.size() == 2 && parts[0] == "webhooks" &&
      (parts[1] == "github" || parts[1] == "gitlab")) {
    if (!post) return method_not_allowed("POST");
    return handle_webhook(req, ctx, parts[1]);
  }
  if (parts.size() == 1 && parts[0] == "source") {
    if (!get) return method_not_allowed("GET");
    if (auto a = authorize(req, ctx, Role::kViewer); a.denied) return std::move(*a.denied);
    return json_response(http::status::ok, ctx.facade.source());
  }
  if (parts.size() == 1 && parts[0] == "sync") {
    if (!post) return method_not_allowed("POST");
    if (auto a = authorize(req, ctx, Role::kDeployer); a.denied) return std::move(*a.denied);
    return Deferred{[&facade = ctx.facade](Respond respond) {
      facade.sync([respond = std::move(respond)](Result<json> result) {
        if (result.is_ok())
          respond(json_response(http::status::ok, *result));
        else
          respond(status_response(result.status()));
      });
    }};
  }
  if (parts.size() == 2 && parts[0] == "stream" && parts[1] == "rollouts") {
    // As Argo CD's /api/v1/stream/applications: the objects, so that a watcher draws what the
    // server holds after a change instead of re-reading it (and maybe reading it too early).
    if (!get) return method_not_allowed("GET");
    if (auto a = authorize(req, ctx, Role::kViewer); a.denied) return std::move(*a.denied);
    std::string name;
    if (auto it = query->find("name"); it != query->end()) name = it->second;
    if (!name.empty() && !ctx.facade.get_rollout(name)) return unknown_rollout(name);
    return EventStream{name, 0, true};
  }
  if (parts.empty() || parts[0] != "rollouts" || parts.size() > 3) return not_found_path(path);

  if (parts.size() == 1) {
    if (!get) return method_not_allowed("GET");
    if (auto a = authorize(req, ctx, Role::kViewer); a.denied) return std::move(*a.denied);
    if (truthy(*query, "watch")) return handle_events(req, ctx, "", *query);
    return json_response(http::status::ok, ctx.facade.list_rollouts());
  }
  const std::string& name = parts[1];
  if (parts.size() == 2) {
    if (!get) return method_not_allowed("GET");
    if (auto a = authorize(req, ctx, Role::kViewer); a.denied) return std::move(*a.denied);
    auto rollout = ctx.facade.get_rollout(name);
    if (!rollout) return unknown_rollout(name);
    return json_response(http::status::ok, *rollout);
  }
  const std::string& sub = parts[2];
  if (sub == "history" || sub == "events") {
    if (!get) return method_not_allowed("GET");
    if (auto a = authorize(req, ctx, Role::kViewer); a.denied) return std::move(*a.denied);
    if (sub == "history") {
      auto h = ctx.facade.history(name);
      if (!h) return unknown_rollout(name);
      return json_response(http::status::ok, *h);
    }
    if (!ctx.facade.get_rollout(name)) return unknown_rollout(name);
    return handle_events(req, ctx, name, *query);
  }
  if (sub == "logs") {
    if (!get) return method_not_allowed("GET");
    if (auto a = authorize(req, ctx, Role::kViewer); a.denied) return std::move(*a.denied);
    return handle_logs(ctx, name, *query);
  }
  if (auto verb = parse_verb(sub)) {
    if (!post) return method_not_allowed("POST");
    return handle_verb(req, ctx, name, *verb, *query);
  }
  return not_found_path(path);
}

}  // namespace sluice::api
