// Pure helpers of the client commands: how `status` judges a rollout (the CI exit codes), and
// how `get`, `history` and `events` render as text. No I/O; colour only when asked.
#pragma once

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

std::string render_rollout_table(const nlohmann::json& list, bool color);
// One rollout: phase, message, versions with ready counts, weights bar, steps with the current
// one marked, latest analysis values.
std::string render_rollout(const nlohmann::json& rollout, bool color);
std::string render_history(const nlohmann::json& history);
std::string render_event(const nlohmann::json& event);

}  // namespace sluice::cli
