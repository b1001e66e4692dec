// The client commands: get, status, promote, abort, retry, pause, resume, undo, history, events.
// Each talks to a running `sluice serve` over HTTP (cli/client.h) and sets the exit code:
// 0 success; `status`: 1 Degraded/aborted, or --revision superseded by a newer revision or
// refused as invalid; 2 timed out (or not finished without --wait; --wait retries an unreachable
// or failing server until --timeout); verbs: 1 when the server refused the verb (409/400);
// 3 any other error (unreachable without --wait, unauthorized, unknown rollout).
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "base/duration.h"
#include "cli/client.h"
#include "cli/client_view.h"
#include "cli/commands.h"
#include "cli/evidence_view.h"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct ClientOptions {
  std::string server = "http://127.0.0.1:7070";
  std::string token;
  std::string output = "table";
  bool json() const { return output == "json"; }
};

void add_client_options(CLI::App* cmd, ClientOptions& o) {
  cmd->add_option("--server", o.server, "API server URL")
      ->envname("SLUICE_SERVER")
      ->capture_default_str();
  cmd->add_option("--token", o.token, "API bearer token")->envname("SLUICE_TOKEN");
  cmd->add_option("-o,--output", o.output, "Output format: table or json")
      ->check(CLI::IsMember({"table", "text", "wide", "json"}))
      ->capture_default_str();
}

std::string rollout_path(const std::string& name) {
  // Rollout names are DNS-like; escape anything else so the path stays one segment.
  std::string out = "/api/v1/rollouts/";
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.')
      out.push_back(static_cast<char>(c));
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

bool stdout_is_tty() { return isatty(STDOUT_FILENO) == 1; }

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int report_error(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return kExitError;
}

// GET that must answer 200 with JSON; anything else is printed as an error.
Result<json> get_json(ApiClient& client, const std::string& target) {
  auto reply = client.get(target);
  if (!reply.is_ok()) return reply.status();
  if (reply->status != 200) {
    StatusCode code = reply->status == 404   ? StatusCode::kNotFound
                      : reply->status == 401 ? StatusCode::kUnauthenticated
                      : reply->status == 403 ? StatusCode::kPermissionDenied
                                             : StatusCode::kInternal;
    return Status(code, reply->error_message());
  }
  return reply->json;
}

// The evidence of the most recent event that has any, for abort explanations.
json latest_evidence(ApiClient& client, const std::string& name) {
  auto events = get_json(client, rollout_path(name) + "/events");
  if (!events.is_ok()) return nullptr;
  json items = events->is_array() ? *events : events->value("items", json::array());
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    if (it->contains("evidence") && (*it)["evidence"].is_object() && !(*it)["evidence"].empty())
      return *it;
  }
  return nullptr;
}

// ---- get -------------------------------------------------------------------------------------

struct GetOptions {
  ClientOptions client;
  std::string name;
  bool watch = false;
};

// Draws `data` (one rollout, or the list) unless it would print the same text as last time.
// On a terminal a watch redraws in place; piped, each drawing is appended after a "---" line.
void draw(const GetOptions& o, const json& data, std::string& last_text) {
  const bool tty = stdout_is_tty();
  std::string text;
  if (o.client.json()) {
    text = data.dump(o.watch ? -1 : 2) + "\n";
  } else {
    const auto now = static_cast<int64_t>(std::time(nullptr));
    text = o.name.empty() ? render_rollout_table(data, tty) : render_rollout(data, tty, now);
  }
  if (text == last_text) return;
  last_text = text;
  if (o.watch && tty && !o.client.json())
    text = "\033[H\033[2J" + text;
  else if (o.watch && !o.client.json())
    text = "---\n" + text;
  print(text);
}

int run_get(const GetOptions& o) {
  ApiClient client(o.client.server, o.client.token);
  std::string last_text;
  std::map<std::string, json> rollouts;
  // A watch of one rollout draws only what its stream sends, which starts with the rollout as it
  // is: once the first drawing is out, no later change can be missed.
  if (!o.watch || o.name.empty()) {
    auto data = get_json(client, o.name.empty() ? "/api/v1/rollouts" : rollout_path(o.name));
    if (!data.is_ok()) return report_error(data.status().message());
    draw(o, *data, last_text);
    if (!o.watch) return kExitOk;
    for (const auto& r : data->value("items", json::array())) rollouts[r.value("name", "")] = r;
  }
  // The watch draws the objects the server streams after each published change rather than
  // re-reading the rollout on each event: a re-read could land before the change was published
  // and leave the watch on a stale state (issue 20). The stream starts with the current objects.
  std::string target = "/api/v1/stream/rollouts";
  if (!o.name.empty()) target += "?name=" + rollout_path(o.name).substr(17);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto result = client.stream_events(
        target, 0,
        [&](const json& change) {
          const json object = change.value("rollout", json());
          if (!object.is_object()) return true;
          const std::string name = object.value("name", "");
          if (!o.name.empty()) {
            if (change.value("type", "") != "DELETED") draw(o, object, last_text);
            return true;
          }
          if (change.value("type", "") == "DELETED")
            rollouts.erase(name);
          else
            rollouts[name] = object;
          json list = {{"items", json::array()}};
          for (const auto& [n, r] : rollouts) list["items"].push_back(r);
          draw(o, list, last_text);
          return true;
        },
        Duration(60'000));
    if (!result.is_ok()) return report_error(result.status().message());
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the server closed: reconnect
  }
  return kExitOk;
}

// ---- status ----------------------------------------------------------------------------------

struct StatusOptions {
  ClientOptions client;
  std::string name;
  bool wait = false;
  std::string revision;
  std::string timeout = "10m";
  std::string interval = "1s";
  bool success_on_pause = false;
};

int finish_status(const StatusOptions& o, int code, const std::string& result, const json& rollout,
                  const std::string& message, const json& evidence) {
  if (o.client.json()) {
    json out = {{"rollout", o.name},
                {"result", result},
                {"exitCode", code},
                {"message", message},
                {"phase", rollout.is_object() ? rollout.value("phase", "") : ""},
                {"evidence", evidence}};
    if (rollout.is_object()) out["desired"] = rollout.value("desired", json());
    print(out.dump(2) + "\n");
  } else if (code == kExitError) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
  } else {
    print(message + "\n");
    if (const std::string text = render_evidence(evidence); !text.empty()) {
      print("evidence:\n" + text);
    }
  }
  return code;
}

// A failure worth retrying while --wait waits, as `argocd app wait` does: the server is
// unreachable, slow, or answers 5xx (starting, not ready). Unauthorized, forbidden and unknown
// rollouts are answers, not outages: they end the wait at once (exit 3).
bool retryable(const Status& status) {
  return status.code() == StatusCode::kUnavailable ||
         status.code() == StatusCode::kDeadlineExceeded || status.code() == StatusCode::kInternal;
}

// One line a person watching CI wants when something changes: phase, step, ready counts.
std::string progress_line(const json& rollout, const StatusJudgement& j) {
  std::string line = j.summary;
  if (const std::string step = step_label(rollout); !step.empty()) line += ", step " + step;
  for (const char* which : {"stable", "canary"}) {
    const json v = rollout.value(which, json());
    if (v.is_object())
      line += fmt::format(", {} {}/{} ready", which, v.value("ready", 0), v.value("replicas", 0));
  }
  return line;
}

// When the rollout is not at the expected commit: was that commit superseded by a newer
// revision (exit 1 at once), refused as invalid (exit 1), or applied without making a revision
// of this rollout (then the rollout as it is answers)? kNone while none of these is known yet.
struct RevisionFinding {
  enum Kind { kNone, kSuperseded, kRefused, kNoRevision } kind = kNone;
  std::string message;
};

RevisionFinding find_revision(ApiClient& client, const StatusOptions& o, const json& rollout) {
  const json desired = rollout.value("desired", json::object());
  const int64_t desired_revision = desired.value("revision", int64_t{0});
  auto history = get_json(client, rollout_path(o.name) + "/history");
  if (history.is_ok()) {
    for (const auto& h : history->value("items", json::array())) {
      const int64_t revision = h.value("revision", int64_t{0});
      if (!commit_matches(h.value("commit", ""), o.revision) || revision >= desired_revision)
        continue;
      return {RevisionFinding::kSuperseded,
              fmt::format("commit {} (revision {}, version {}) of {} was superseded by revision {} "
                          "(version {}, commit {})",
                          o.revision, revision, h.value("version", "?"), o.name, desired_revision,
                          desired.value("version", "?"), desired.value("commit", "").substr(0, 8))};
    }
  }
  auto source = get_json(client, "/api/v1/source");
  if (!source.is_ok()) return {};
  const json error = source->value("error", json());
  if (error.is_object() && commit_matches(error.value("commit", ""), o.revision)) {
    std::string where = error.value("file", "");
    if (error.value("line", 0) > 0) where += ":" + std::to_string(error.value("line", 0));
    return {RevisionFinding::kRefused,
            fmt::format("commit {} was refused and is not applied: {}{}", o.revision,
                        where.empty() ? "" : where + ": ", error.value("message", ""))};
  }
  if (source->value("commit", json()).is_string() &&
      commit_matches(source->value("commit", ""), o.revision)) {
    return {RevisionFinding::kNoRevision,
            fmt::format("commit {} is applied and made no new revision of {}", o.revision,
                        o.name)};
  }
  return {};
}

int run_status(const StatusOptions& o) {
  auto timeout = parse_duration(o.timeout);
  if (!timeout.is_ok()) return report_error("--timeout: " + timeout.status().message());
  auto interval = parse_duration(o.interval);
  if (!interval.is_ok() || interval->count() <= 0)
    return report_error("--interval must be a positive duration");
  StatusCriteria criteria{o.revision, o.success_on_pause};
  ApiClient client(o.client.server, o.client.token, Duration(10'000));
  const auto deadline = std::chrono::steady_clock::now() + *timeout;
  const bool show_progress = o.wait && !o.client.json();
  std::string last_progress, last_error, note;
  json last_rollout;
  for (;;) {
    auto rollout = get_json(client, rollout_path(o.name));
    const auto now = std::chrono::steady_clock::now();
    if (!rollout.is_ok()) {
      if (!o.wait || !retryable(rollout.status()))
        return finish_status(o, kExitError, "error", nullptr, rollout.status().message(),
                             nullptr);
      if (rollout.status().message() != last_error && show_progress)
        print("waiting: " + rollout.status().message() + "\n");
      last_error = rollout.status().message();
      if (now >= deadline) {
        return finish_status(o, kExitTimeout, "timeout", last_rollout,
                             fmt::format("{}: timed out after {}; last error: {}", o.name,
                                         o.timeout, last_error),
                             nullptr);
      }
    } else {
      last_error.clear();
      last_rollout = *rollout;
      StatusJudgement j = judge_status(*rollout, criteria);
      if (j.verdict == Verdict::kPending && !criteria.revision.empty() &&
          !commit_matches(rollout->value("desired", json::object()).value("commit", ""),
                          criteria.revision)) {
        RevisionFinding f = find_revision(client, o, *rollout);
        if (f.kind == RevisionFinding::kSuperseded || f.kind == RevisionFinding::kRefused)
          return finish_status(o, kExitDegraded, "failed", *rollout, f.message, nullptr);
        if (f.kind == RevisionFinding::kNoRevision) {
          // As Argo CD, which waits for the application rather than for a change: the commit is
          // in, so the rollout as it is now answers.
          note = f.message + "; ";
          criteria.revision.clear();
          j = judge_status(*rollout, criteria);
        }
      }
      j.summary = note + j.summary;
      if (j.verdict == Verdict::kSucceeded)
        return finish_status(o, kExitOk, "succeeded", *rollout, j.summary, nullptr);
      if (j.verdict == Verdict::kFailed) {
        json event = latest_evidence(client, o.name);
        std::string message = j.summary;
        std::string reason = rollout->value("message", "");
        if (!reason.empty()) message += "\nreason: " + reason;
        return finish_status(o, kExitDegraded, "failed", *rollout, message,
                             event.is_object() ? event["evidence"] : json());
      }
      if (show_progress) {
        if (std::string line = progress_line(*rollout, j); line != last_progress) {
          print(line + "\n");
          last_progress = line;
        }
      }
      if (!o.wait || now >= deadline) {
        std::string message =
            j.summary + (o.wait ? "; timed out after " + o.timeout : "; not finished (use --wait)");
        return finish_status(o, kExitTimeout, "timeout", *rollout, message, nullptr);
      }
    }
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(*interval, remaining));
  }
}

// ---- verbs -----------------------------------------------------------------------------------

struct VerbOptions {
  ClientOptions client;
  std::string name;
  bool full = false;
  int64_t to_revision = 0;
};

int run_verb(const std::string& verb, const VerbOptions& o) {
  ApiClient client(o.client.server, o.client.token, Duration(120'000));
  std::string target = rollout_path(o.name) + "/" + verb;
  if (o.full) target += "?full=1";
  if (o.to_revision > 0) target += "?revision=" + std::to_string(o.to_revision);
  auto reply = client.post(target);
  if (!reply.is_ok()) return report_error(reply.status().message());
  if (reply->status != 200) {
    std::fprintf(stderr, "error: %s: %s\n", verb.c_str(), reply->error_message().c_str());
    return reply->status == 409 || reply->status == 400 ? kExitDegraded : kExitError;
  }
  if (o.client.json()) {
    print(reply->json.dump(2) + "\n");
  } else {
    const json& r = reply->json;
    // The reply is the rollout as the verb was accepted; the controller acts on it right after,
    // so say so rather than present it as the outcome.
    if (verb == "undo") {
      const json desired = r.value("desired", json::object());
      print(fmt::format("{}: undo accepted: going to revision {} ({}); follow with: sluice get {} "
                        "--watch\n",
                        o.name, desired.value("revision", int64_t{0}),
                        desired.value("version", std::string("?")), o.name));
      return kExitOk;
    }
    print(fmt::format(
        "{}: {} accepted (was {} at step {}, canary {}%); follow with: sluice get {} --watch\n",
        o.name, verb, r.value("phase", "?"), step_label(r).empty() ? "-" : step_label(r),
        r.value("weights", json::object()).value("canary", 0), o.name));
  }
  return kExitOk;
}

// ---- history / events --------------------------------------------------------------------------

struct NamedOptions {
  ClientOptions client;
  std::string name;
  bool watch = false;
};

int run_history(const NamedOptions& o) {
  ApiClient client(o.client.server, o.client.token);
  auto data = get_json(client, rollout_path(o.name) + "/history");
  if (!data.is_ok()) return report_error(data.status().message());
  print(o.client.json() ? data->dump(2) + "\n" : render_history(*data));
  return kExitOk;
}

int run_events(const NamedOptions& o) {
  ApiClient client(o.client.server, o.client.token);
  if (!o.watch) {
    auto data = get_json(client, rollout_path(o.name) + "/events");
    if (!data.is_ok()) return report_error(data.status().message());
    if (o.client.json()) {
      print(data->dump(2) + "\n");
    } else {
      json items = data->is_array() ? *data : data->value("items", json::array());
      for (const auto& e : items) print(render_event(e) + "\n");
    }
    return kExitOk;
  }
  uint64_t last_id = 0;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto result = client.stream_events(
        rollout_path(o.name) + "/events?watch=1", last_id,
        [&](const json& e) {
          print(o.client.json() ? e.dump() + "\n" : render_event(e) + "\n");
          return true;
        },
        Duration(60'000));
    if (!result.is_ok()) return report_error(result.status().message());
    last_id = *result;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return kExitOk;
}

}  // namespace

void register_client_commands(CLI::App& app, CommandRegistry& registry) {
  {
    auto o = std::make_shared<GetOptions>();
    auto* cmd = app.add_subcommand("get", "Show rollouts (a table), or one rollout in detail");
    cmd->add_option("NAME", o->name, "Rollout name");
    cmd->add_flag("-w,--watch", o->watch, "Redraw on every change");
    add_client_options(cmd, o->client);
    cmd->callback([o, &registry] { registry.set_exit_code(run_get(*o)); });
  }
  {
    auto o = std::make_shared<StatusOptions>();
    auto* cmd = app.add_subcommand(
        "status",
        "Exit 0 when Healthy at the expected revision, 1 Degraded/aborted or the revision was "
        "superseded or refused, 2 timed out, 3 error");
    cmd->add_option("NAME", o->name, "Rollout name")->required();
    cmd->add_flag("--wait", o->wait,
                  "Wait until the rollout succeeds, fails or times out, printing each change; "
                  "an unreachable server is retried until --timeout");
    cmd->add_option("--revision", o->revision, "Expected Git commit (SHA or prefix)");
    cmd->add_option("--timeout", o->timeout, "How long --wait waits")->capture_default_str();
    cmd->add_option("--interval", o->interval, "Polling interval")->capture_default_str();
    cmd->add_flag("--success-on-pause", o->success_on_pause, "A pause counts as success");
    add_client_options(cmd, o->client);
    cmd->callback([o, &registry] { registry.set_exit_code(run_status(*o)); });
  }
  for (const char* verb : {"promote", "abort", "retry", "pause", "resume", "undo"}) {
    auto o = std::make_shared<VerbOptions>();
    std::string v = verb;
    const char* help = v == "promote"  ? "Continue past a pause or gate (--full: skip all steps)"
                       : v == "abort"  ? "Stop; send all traffic to stable; scale the canary down"
                       : v == "retry"  ? "Restart an aborted rollout"
                       : v == "pause"  ? "Hold the rollout"
                       : v == "resume" ? "Release a held rollout"
                                       : "Go back to the revision before the current one: "
                                         "during an update (also an aborted one) the stable "
                                         "revision, which ends the update; when Healthy, the "
                                         "previous revision that was stable. --to-revision N "
                                         "picks one. `sluice get NAME` shows the target (Undo:)";
    auto* cmd = app.add_subcommand(v, help);
    cmd->add_option("NAME", o->name, "Rollout name")->required();
    if (v == "promote") cmd->add_flag("--full", o->full, "Skip all remaining steps");
    if (v == "undo") cmd->add_option("--to-revision", o->to_revision, "Revision to roll back to");
    add_client_options(cmd, o->client);
    cmd->callback([o, v, &registry] { registry.set_exit_code(run_verb(v, *o)); });
  }
  {
    auto o = std::make_shared<NamedOptions>();
    auto* cmd = app.add_subcommand("history", "Past revisions with commit, version and result");
    cmd->add_option("NAME", o->name, "Rollout name")->required();
    add_client_options(cmd, o->client);
    cmd->callback([o, &registry] { registry.set_exit_code(run_history(*o)); });
  }
  {
    auto o = std::make_shared<NamedOptions>();
    auto* cmd = app.add_subcommand("events", "Recorded decisions, oldest first");
    cmd->add_option("NAME", o->name, "Rollout name")->required();
    cmd->add_flag("-w,--watch", o->watch, "Stream new events");
    add_client_options(cmd, o->client);
    cmd->callback([o, &registry] { registry.set_exit_code(run_events(*o)); });
  }
}

}  // namespace sluice::cli
