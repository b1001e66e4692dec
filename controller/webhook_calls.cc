// Gate webhooks (spec.webhooks): the controller's side. strategies::decide() says which calls
// should be under way; this file makes each one once (per gate and sequence number) through the
// WebhookCaller, off the strand, and posts the answer back: into the gate's status (the input of
// the next decide()), into the evidence (RolloutState::webhook_calls), then records the state,
// makes it durable and queues the rollout. `event` webhooks get every recorded event; their
// answers are evidence too, but never an event (no feedback loop).
#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "controller/controller.h"

namespace sluice::controller {

using nlohmann::json;

namespace {

// Sluice has one namespace, as the API and the Kubernetes runtime's default: "default".
constexpr const char* kWebhookNamespace = "default";
// `event` calls in flight per rollout; more are dropped (logged): a hanging receiver must not
// collect an unbounded number of sockets.
constexpr int kMaxEventCallsInFlight = 16;

// Bounded and printable: the excerpt goes into JSON, logs and the terminal.
std::string excerpt(const std::string& text) {
  std::string out;
  out.reserve(std::min(text.size(), kWebhookBodyExcerpt));
  for (char ch : text) {
    if (out.size() >= kWebhookBodyExcerpt) break;
    const auto u = static_cast<unsigned char>(ch);
    out += (u >= 0x20 && u < 0x7f) || ch == '\n' || ch == '\t' ? ch : '?';
  }
  return out;
}

void keep_call(RolloutState& state, WebhookCallRecord record) {
  state.webhook_calls.push_back(std::move(record));
  const WebhookCallRecord& newest = state.webhook_calls.back();
  const auto same = [&](const WebhookCallRecord& r) {
    return r.revision == newest.revision && r.name == newest.name;
  };
  size_t n = std::count_if(state.webhook_calls.begin(), state.webhook_calls.end(), same);
  for (auto it = state.webhook_calls.begin(); n > kKeptWebhookCalls;) {
    if (same(*it)) {
      it = state.webhook_calls.erase(it);
      --n;
    } else {
      ++it;
    }
  }
  std::erase_if(state.webhook_calls, [&](const WebhookCallRecord& r) {
    return state.revision(r.revision) == nullptr;
  });
}

std::string summary(const WebhookCallRecord& r) {
  if (r.status == 0) return r.error;
  std::string s = fmt::format("HTTP {} in {} ms", r.status, r.duration_ms);
  if (!r.body.empty()) s += ": " + r.body.substr(0, 160);
  return s;
}

}  // namespace

json Controller::webhook_body(const RolloutState& state, const manifests::Webhook& hook,
                              int64_t revision) const {
  const RevisionRecord* r = state.revision(revision);
  return {{"name", state.name},
          {"namespace", kWebhookNamespace},
          {"phase", strategies::phase_name(state.status.phase)},
          {"revision", revision},
          {"version", r ? r->spec.template_.version : ""},
          {"commit", r ? r->commit : ""},
          {"metadata", hook.metadata}};
}

void Controller::call_webhook(const RolloutState& state, const manifests::Webhook& hook,
                              int64_t revision, const std::string& key, json body,
                              std::function<void(RolloutState&, const WebhookCallRecord&)> then) {
  WebhookCallRecord record;
  record.key = key;
  record.name = hook.name;
  record.type = hook.type;
  record.revision = revision;
  const TimePoint started = deps_.clock.now();
  std::weak_ptr<bool> alive = alive_;
  auto done = [this, alive, scheduler = &deps_.scheduler, rollout = state.name, record, started,
               then = std::move(then)](WebhookAnswer answer) mutable {
    // As for hooks: only the posted callback, on the controller thread, may look at `this`.
    if (alive.expired()) return;
    scheduler->post([this, alive, rollout, record = std::move(record), started,
                     then = std::move(then), answer = std::move(answer)]() mutable {
      if (alive.expired() || !*alive.lock()) return;
      auto it = states_.find(rollout);
      if (it == states_.end()) return;
      record.at = deps_.clock.now();
      record.duration_ms = std::max<int64_t>(0, (record.at - started).count());
      record.status = answer.status;
      record.ok = answer.status >= 200 && answer.status < 300;
      record.body = excerpt(answer.body);
      record.error = excerpt(answer.error);
      keep_call(it->second, record);
      then(it->second, record);
    });
  };
  if (deps_.webhooks == nullptr) {
    done(WebhookAnswer{0, "", "no webhook caller is wired into this controller"});
    return;
  }
  deps_.webhooks->call(
      {hook.url, body.dump(-1, ' ', false, json::error_handler_t::replace), hook.timeout},
      std::move(done));
}

void Controller::start_webhook_call(RolloutState& state, const strategies::WebhookCall& call) {
  Runtime& live = live_[state.name];
  if (live.webhooks_in_flight.count(call.key)) return;
  const auto& hooks = state.spec.webhooks;
  auto hook = std::find_if(hooks.begin(), hooks.end(),
                           [&](const manifests::Webhook& w) { return w.name == call.name; });
  if (hook == hooks.end()) return;  // gone from the spec since the decision
  live.webhooks_in_flight[call.key] = call.seq;
  const std::string key = call.key;
  const int seq = call.seq;
  call_webhook(state, *hook, call.revision, key, webhook_body(state, *hook, call.revision),
               [this, key, seq](RolloutState& st, const WebhookCallRecord& record) {
                 auto& in_flight = live_[st.name].webhooks_in_flight;
                 if (auto f = in_flight.find(key); f != in_flight.end() && f->second == seq) {
                   in_flight.erase(f);
                 }
                 // A gate pruned meanwhile (a new revision) keeps only the evidence.
                 auto g = st.status.webhooks.find(key);
                 if (g != st.status.webhooks.end() && seq > g->second.answered) {
                   strategies::WebhookGate& gate = g->second;
                   gate.answered = seq;
                   gate.last_ok = record.ok;
                   if (!record.ok) gate.failed += 1;
                   gate.answered_at = record.at;
                   gate.last = summary(record);
                 }
                 record_state(st);
                 (void)make_durable();  // the reconcile it queues acts only once it is
                 enqueue(st.name);
               });
}

void Controller::send_event_webhooks(const RolloutState& state, const json& event) {
  for (const auto& hook : state.spec.webhooks) {
    if (hook.type != "event") continue;
    Runtime& live = live_[state.name];
    if (live.event_webhooks_in_flight >= kMaxEventCallsInFlight) {
      spdlog::warn("rollout {}: event webhook {} dropped an event ({} calls in flight)", state.name,
                   hook.name, live.event_webhooks_in_flight);
      continue;
    }
    const int64_t revision = event.value("revision", int64_t{0});
    json body = webhook_body(state, hook, revision);
    // Flagger's event webhook carries the event in metadata; Sluice adds the whole event.
    body["metadata"]["eventMessage"] = event.value("message", "");
    body["metadata"]["eventType"] = event.value("type", "");
    body["metadata"]["eventReason"] = event.value("reason", "");
    body["event"] = event;
    live.event_webhooks_in_flight += 1;
    call_webhook(state, hook, revision, "", std::move(body),
                 [this](RolloutState& st, const WebhookCallRecord&) {
                   auto& n = live_[st.name].event_webhooks_in_flight;
                   n = std::max(0, n - 1);
                   record_state(st);  // evidence only: no event, so no call about this call
                 });
  }
}

json Controller::webhooks_json(const RolloutState& state) const {
  json gates = json::array();
  const std::string prefix = fmt::format("r{}.a{}.", state.status.update_revision,
                                         state.status.attempt);
  for (const auto& hook : state.spec.webhooks) {
    json gate = nullptr;
    if (auto g = state.status.webhooks.find(prefix + hook.name); g != state.status.webhooks.end()) {
      const auto& w = g->second;
      gate = {{"calls", w.answered},
              {"failed", w.failed},
              {"pending", w.pending()},
              {"lastOk", w.last_ok},
              {"last", w.last},
              {"answeredAt", w.answered_at ? json(format_rfc3339(*w.answered_at)) : json(nullptr)}};
    }
    gates.push_back({{"name", hook.name},
                     {"type", hook.type},
                     {"timeoutSeconds", static_cast<double>(hook.timeout.count()) / 1000.0},
                     {"gate", gate}});
  }
  json calls = json::array();
  for (const auto& r : state.webhook_calls) {
    calls.push_back({{"name", r.name},
                     {"type", r.type},
                     {"revision", r.revision},
                     {"at", format_rfc3339(r.at)},
                     {"durationMs", r.duration_ms},
                     {"status", r.status},
                     {"ok", r.ok},
                     {"body", r.body},
                     {"error", r.error}});
  }
  return {{"webhooks", gates}, {"webhookCalls", calls}};
}

}  // namespace sluice::controller
