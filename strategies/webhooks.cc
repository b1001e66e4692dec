// Gate webhooks (spec.webhooks) with Flagger's meaning, as pure decisions: which calls should be
// under way (Decision::webhook_calls) and what their recorded answers (RolloutStatus::webhooks,
// written by the controller) do to the update. See strategy_context.h for each type's rule and
// docs/notifications.md, Gate webhooks, for why.
#include "strategies/strategy_context.h"

namespace sluice::strategies::detail {

namespace {

bool skipped(const Context& c) { return c.status.fast_track || c.status.promote_full; }

bool passed(const WebhookGate& g) { return g.answered > 0 && g.last_ok && !g.pending(); }

std::string last_answer(const WebhookGate& g) {
  return g.answered > 0 ? fmt::format("; last answer: {}", g.last) : std::string();
}

// Asks for a call of `w` on gate `key` when one is due: none made yet, or (polled) `interval`
// after the last answer. A pending call stays asked for (the controller makes it once per seq).
void want_call(Context& c, const manifests::Webhook& w, const std::string& key, int64_t revision,
               bool polled) {
  WebhookGate& g = c.status.webhooks[key];
  if (!g.pending()) {
    bool due = g.requested == 0;
    if (!due && polled) {
      const TimePoint at = (g.answered_at ? *g.answered_at : c.now) + w.interval;
      if (c.now >= at) {
        due = true;
      } else {
        c.decision.requeue(at - c.now);
      }
    }
    if (!due) return;
    g.requested += 1;
  }
  c.decision.webhook_calls.push_back({key, g.requested, w.name, w.type, revision});
}

void abort_by_webhook(Context& c, const std::string& reason, const std::string& what,
                      const std::string& key) {
  c.abort(reason, fmt::format("{}; revision {} rolled back to stable revision {}", what,
                              c.update(), c.stable()));
  c.decision.transitions.back().webhook_key = key;
}

// The levels of an update that has not taken its first step: the update has no instances and
// stable serves everything; a superseded revision keeps what it has until the update starts.
void hold_before_start(Context& c) {
  for (const auto& [rev, n] : c.status.replicas) {
    if (rev != c.update() && n > 0) c.decision.replicas[rev] = n;
  }
  c.decision.replicas[c.stable()] = c.replicas();
  c.decision.weights = {{c.stable(), 100}};
}

// The update is in its final promotion: no new `rollout` calls then (a pending one is awaited).
bool promoting(const Context& c) {
  if (const auto* canary = std::get_if<manifests::CanaryStrategy>(&c.spec.strategy)) {
    return c.status.current_step_index >= static_cast<int>(canary->steps.size());
  }
  if (std::holds_alternative<manifests::BlueGreenStrategy>(c.spec.strategy)) {
    return c.status.promoted;
  }
  return false;
}

}  // namespace

bool before_first_step(Context& c) {
  RolloutStatus& s = c.status;
  if (skipped(c)) return true;
  for (const auto& w : c.spec.webhooks) {
    if (w.type != "rollback") continue;
    const std::string k = c.key(w.name);
    want_call(c, w, k, c.update(), /*polled=*/true);
    const WebhookGate& g = s.webhooks[k];
    if (g.answered > 0 && g.last_ok) {
      abort_by_webhook(c, "WebhookRollback",
                       fmt::format("rollback webhook {} asked for a rollback ({})", w.name, g.last),
                       k);
      return false;
    }
  }
  // Gates of the first step only: once the update has instances (or moved on), they are done.
  const bool started = c.desired(c.update()) > 0 || s.current_step_index > 0 || s.promoted;
  if (started) return true;
  for (const char* type : {"confirm-rollout", "pre-rollout"}) {
    const bool confirm = std::string(type) == "confirm-rollout";
    for (const auto& w : c.spec.webhooks) {
      if (w.type != type) continue;
      const std::string k = c.key(w.name);
      const WebhookGate& g = s.webhooks[k];
      if (passed(g)) continue;
      if (!confirm && g.answered > 0 && !g.pending()) {
        abort_by_webhook(c, "WebhookFailed",
                         fmt::format("pre-rollout webhook {} failed: {}", w.name, g.last), k);
        return false;
      }
      want_call(c, w, k, c.update(), /*polled=*/confirm);
      hold_before_start(c);
      if (confirm) {
        c.paused(fmt::format("waiting for confirm-rollout webhook {} to approve revision {}{}",
                             w.name, c.update(), last_answer(s.webhooks[k])));
      } else {
        c.progressing(
            fmt::format("running pre-rollout webhook {} for revision {}", w.name, c.update()));
      }
      return false;
    }
  }
  return true;
}

void rollout_webhooks(Context& c) {
  if (skipped(c)) return;
  const bool final_promotion = promoting(c);
  for (const auto& w : c.spec.webhooks) {
    if (w.type != "rollout") continue;
    const std::string k = c.key(w.name);
    const WebhookGate& g = c.status.webhooks[k];
    if (g.failed > w.failure_limit) {
      abort_by_webhook(c, "WebhookFailed",
                       fmt::format("rollout webhook {} failed {} time(s), more than its "
                                   "failureLimit {}: {}",
                                   w.name, g.failed, w.failure_limit, g.last),
                       k);
      return;
    }
    if (!final_promotion || g.pending()) want_call(c, w, k, c.update(), /*polled=*/true);
  }
}

bool promotion_allowed(Context& c) {
  if (skipped(c)) return true;
  for (const auto& w : c.spec.webhooks) {
    if (w.type != "rollout") continue;
    const WebhookGate& g = c.status.webhooks[c.key(w.name)];
    if (g.answered == 0 || g.pending()) {
      c.progressing(fmt::format("promotion of revision {} waits for the answer of rollout webhook {}",
                                c.update(), w.name));
      return false;
    }
  }
  for (const auto& w : c.spec.webhooks) {
    if (w.type != "confirm-promotion") continue;
    const std::string k = c.key(w.name);
    if (passed(c.status.webhooks[k])) continue;
    want_call(c, w, k, c.update(), /*polled=*/true);
    c.paused(fmt::format("waiting for confirm-promotion webhook {} to approve the promotion of "
                         "revision {}{}",
                         w.name, c.update(), last_answer(c.status.webhooks[k])));
    return false;
  }
  return true;
}

void post_rollout_webhooks(Context& c, const RolloutStatus& before) {
  RolloutStatus& s = c.status;
  if (s.stable_revision == 0 || s.update_revision == 0) return;
  const bool completed_now = before.stable_revision != 0 && before.in_progress() &&
                             !s.in_progress() && s.stable_revision == before.update_revision;
  bool any = false;
  for (const auto& w : c.spec.webhooks) any = any || w.type == "post-rollout";
  if (!any) return;
  if (completed_now) {
    s.post_rollout_revision = s.update_revision;
    s.post_rollout_attempt = s.attempt;
  }
  const bool completed = !s.in_progress() && s.post_rollout_revision == s.update_revision &&
                         s.post_rollout_attempt == s.attempt;
  if (!s.aborted && !completed) return;
  for (const auto& w : c.spec.webhooks) {
    if (w.type != "post-rollout") continue;
    const std::string k = c.key(w.name);
    if (s.webhooks[k].answered > 0) continue;
    want_call(c, w, k, c.update(), /*polled=*/false);
  }
}

void prune_webhook_gates(Context& c) {
  const std::string prefix = c.key("");
  std::erase_if(c.status.webhooks,
                [&](const auto& kv) { return kv.first.rfind(prefix, 0) != 0; });
}

}  // namespace sluice::strategies::detail
