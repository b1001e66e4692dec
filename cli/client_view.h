// Pure helpers of the client commands: how `status` judges a rollout (the CI exit codes), and
// how `get`, `history` and `events` render as text. No I/O; colour only when asked.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace sluice::cli {

// `sluice status` exit codes (shared/reference/api.md).
enum ExitCode : int { kExitOk = 0, kExitDegraded = 1, kExitTimeout = 2, kExitError = 3 };

struct StatusCriteria {
  std::string revision;           // expected commit (prefix ok, >= 4 chars); "" = any
  bool success_on_pause = false;  // a Paused rollout at the expected revision counts as done
};

enum class Verdict { kSucceeded, kFailed, kPending };

struct StatusJudgement {
  Verdict verdict = Verdict::kPending;
  std::string summary;  // one line: "orders-api is Healthy at 2.3.1 (commit c0ffee12)"
};

// Judges one rollout object. Degraded or aborted at the expected revision fails; Healthy (or
// Paused with success_on_pause) at the expected revision succeeds; anything else is pending,
// including any state of an older commit while a newer one is expected.
StatusJudgement judge_status(const nlohmann::json& rollout, const StatusCriteria& criteria);

// True when `commit` starts with `expected` (or they are equal); empty expected matches all.
bool commit_matches(const std::string& commit, const std::string& expected);

// The rollout object's `sync` in one phrase: "Synced", or "OutOfSync (<reason>)"; "" when the
// server sends no `sync` (an older server).
std::string sync_text(const nlohmann::json& rollout);
// Steps as people count them: "2/5" while an update is in progress at currentStepIndex 1 (the
// JSON index is 0-based, as in Argo Rollouts), "5/5" once every step is done but the update is
// still finishing, "" when no update is in progress (a finished rollout has no current step) or
// the strategy has no steps.
std::string step_label(const nlohmann::json& rollout);

std::string render_rollout_table(const nlohmann::json& list, bool color);
// One rollout: phase, message, versions with ready counts, weights bar, steps (1-based) with the
// current one marked, latest analysis values, then the revision tree (render_revision_tree).
// `now_unix_seconds` ages the instances; 0 shows no ages.
std::string render_rollout(const nlohmann::json& rollout, bool color,
                           int64_t now_unix_seconds = 0);
// As `kubectl argo rollouts get rollout`: each revision (newest first) with its version and
// role, then its instances (ready, age, restarts, last exit), then its analysis runs with counts
// of successful (✔), failed (✖) and other (⚠) measurements. From the rollout object's
// `instances`, `analysisRuns`, `stable`, `canary` and `desired`; "" when there is nothing.
std::string render_revision_tree(const nlohmann::json& rollout, bool color,
                                 int64_t now_unix_seconds);
// "45s", "3m", "2h", "4d" from an RFC 3339 time to now; "-" when unknown.
std::string age_text(const nlohmann::json& rfc3339, int64_t now_unix_seconds);
std::string render_history(const nlohmann::json& history);
std::string render_event(const nlohmann::json& event);

}  // namespace sluice::cli
