#include "notify/triggers.h"

#include <algorithm>
#include <functional>

namespace sluice::notify {

namespace {

using json = nlohmann::json;

std::string str(const json& event, const char* key) {
  auto it = event.find(key);
  return it != event.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The analysis run's phase in the event's evidence ("Failed", "Error", "Running", ...).
std::string run_phase(const json& event) {
  auto ev = event.find("evidence");
  if (ev == event.end() || !ev->is_object()) return "";
  auto run = ev->find("analysisRun");
  if (run == ev->end() || !run->is_object()) return "";
  return str(*run, "phase");
}

bool entered(const json& event, std::string_view phase) {
  return str(event, "to") == phase && str(event, "from") != phase;
}

bool reason_is(const json& event, std::initializer_list<std::string_view> reasons) {
  const std::string reason = str(event, "reason");
  return std::find(reasons.begin(), reasons.end(), reason) != reasons.end();
}

struct Rule {
  std::string_view trigger;
  std::function<bool(const json&)> fires;
};

// The one table. Phases are levels, reasons are what happened: a trigger about a phase fires on
// the event that entered it (once per transition), the others on the reasons that mean them.
const std::vector<Rule>& rules() {
  static const std::vector<Rule> kRules = {
      // A new revision from Git (the rollout's template changed).
      {"on-rollout-updated", [](const json& e) { return reason_is(e, {"RevisionCreated"}); }},
      {"on-rollout-step-completed", [](const json& e) { return reason_is(e, {"StepCompleted"}); }},
      // A pause step, an inconclusive analysis, a blue-green preview awaiting promotion, or an
      // operator's pause: whatever entered the Paused phase.
      {"on-rollout-paused", [](const json& e) { return entered(e, "Paused"); }},
      {"on-rollout-completed", [](const json& e) { return reason_is(e, {"RolloutCompleted"}); }},
      // Every abort (analysis, hook, crash loop, progress deadline, `sluice abort`) enters Degraded.
      {"on-rollout-aborted", [](const json& e) { return entered(e, "Degraded"); }},
      {"on-analysis-run-running", [](const json& e) { return reason_is(e, {"AnalysisRunStarted"}); }},
      {"on-analysis-run-failed",
       [](const json& e) { return reason_is(e, {"AnalysisFailed"}) && run_phase(e) != "Error"; }},
      {"on-analysis-run-error",
       [](const json& e) { return reason_is(e, {"AnalysisFailed"}) && run_phase(e) == "Error"; }},
      // The decisions after which Sluice scales revisions up or down: a canary weight or scale
      // step done (the next step's levels follow), a promotion, a switch of the active revision.
      {"on-scaling-replica-set",
       [](const json& e) {
         if (reason_is(e, {"PromotionStarted", "PromotedFull", "ActiveSwitched"})) return true;
         if (!reason_is(e, {"StepCompleted"})) return false;
         const std::string message = str(e, "message");
         return message.find("(setWeight") != std::string::npos ||
                message.find("(setCanaryScale") != std::string::npos;
       }},
  };
  return kRules;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

bool is_trigger(std::string_view name) {
  return std::find(kTriggerNames.begin(), kTriggerNames.end(), name) != kTriggerNames.end();
}

std::string closest_trigger(std::string_view name) {
  std::string best;
  size_t best_distance = 6;  // farther than this is no typo
  for (std::string_view t : kTriggerNames) {
    const size_t d = edit_distance(name, t);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(t);
    }
  }
  return best;
}

std::vector<std::string> triggers_for(const nlohmann::json& event) {
  std::vector<std::string> out;
  if (!event.is_object()) return out;
  for (const auto& rule : rules()) {
    if (rule.fires(event)) out.emplace_back(rule.trigger);
  }
  return out;
}

}  // namespace sluice::notify
