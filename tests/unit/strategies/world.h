// A tiny deterministic world for strategy tests: applies each Decision instantly (instances exist
// as asked, become ready unless told otherwise, the router applies the weights) and feeds the
// observation back into the next decide().
#pragma once

#include <map>
#include <set>

#include "strategies/decision.h"
#include "strategies/replica_math.h"
#include "strategies/verbs.h"

namespace sluice::strategies::testing {

inline manifests::CanaryStrategy canary_with(std::vector<manifests::CanaryStep> steps) {
  manifests::CanaryStrategy c;
  c.steps = std::move(steps);
  return c;
}

struct World {
  manifests::RolloutSpec spec;
  RolloutStatus status;
  Observed observed;
  TimePoint now = from_unix_ms(1'767'225'600'000);
  std::set<int64_t> never_ready;     // revisions whose instances never become ready
  std::map<int64_t, int> instances;  // what the runtime runs
  Decision last;
  std::vector<std::string> hooks_run;  // "deactivate r1", "activate r2" in order
  bool hooks_fail = false;
  std::set<std::string> failing_hooks;                    // e.g. "activate r2": only these fail
  std::map<int64_t, std::vector<TimePoint>> ready_since;  // per revision, one per ready instance
  bool router_fails = false;
  int max_total_seen = 0;
  int min_ready_seen = 1 << 30;

  explicit World(manifests::RolloutSpec s) : spec(std::move(s)) {}

  void start_revision(int64_t rev, bool fast_track = false) {
    begin_update(status, rev, fast_track, now);
  }

  void set_analysis(const std::string& key_suffix, Verdict v, std::string msg = "") {
    for (const auto& a : last.analyses) {
      if (a.key.size() >= key_suffix.size() &&
          a.key.compare(a.key.size() - key_suffix.size(), key_suffix.size(), key_suffix) == 0) {
        observed.analyses[a.key] = {v, msg};
      }
    }
  }

  // One decide() and the world's reaction.
  Decision& step() {
    last = decide(spec, status, observed, now);
    status = last.status;
    instances.clear();
    int total = 0;
    int ready_total = 0;
    for (const auto& [rev, n] : last.replicas) {
      instances[rev] = n;
      total += n;
    }
    observed.revisions.clear();
    std::erase_if(ready_since, [&](const auto& kv) { return !instances.count(kv.first); });
    for (const auto& [rev, n] : instances) {
      auto& o = observed.revisions[rev];
      o.instances = n;
      o.ready = never_ready.count(rev) ? 0 : n;
      auto& since = ready_since[rev];
      while (static_cast<int>(since.size()) > o.ready) since.pop_back();
      while (static_cast<int>(since.size()) < o.ready) since.push_back(now);
      o.ready_since = since;
      o.has_activate_hook = true;
      o.has_deactivate_hook = true;
      ready_total += o.ready;
    }
    max_total_seen = std::max(max_total_seen, total);
    min_ready_seen = std::min(min_ready_seen, ready_total);
    if (!router_fails) {
      observed.applied_weights = last.weights;
      observed.applied_header_route = last.header_route;
    }
    for (const auto& h : last.hooks) {
      const std::string run =
          std::string(h.action == HookAction::kActivate ? "activate" : "deactivate") + " r" +
          std::to_string(h.revision);
      hooks_run.push_back(run);
      const bool fail = hooks_fail || failing_hooks.count(run) > 0;
      status.hooks[h.key] = {!fail, fail ? "i-" + std::to_string(h.revision) + ": exit 1" : "ok"};
    }
    return last;
  }

  // Steps until nothing changes (or the bound), advancing time by `tick` per pass.
  Decision& settle(int bound = 60, Duration tick = Duration(0)) {
    int quiet = 0;
    for (int i = 0; i < bound && quiet < 2; ++i) {
      const RolloutStatus before = status;
      const auto replicas_before = last.replicas;
      const auto weights_before = last.weights;
      step();
      now += tick;
      const bool same = status == before && last.replicas == replicas_before &&
                        last.weights == weights_before && last.hooks.empty();
      quiet = same ? quiet + 1 : 0;
    }
    return last;
  }
};

}  // namespace sluice::strategies::testing
