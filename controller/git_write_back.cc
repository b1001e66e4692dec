// Git write-back, the controller's side: when an automatic abort asks for it, when it starts, and
// how its outcome is recorded. The Git work itself (gitops::GitWriter) runs off the controller
// thread through ControllerDeps::git_write_back; its outcome is posted back here.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "controller/controller.h"

namespace sluice::controller {

using nlohmann::json;

json git_write_back_json(const RolloutState& s) {
  if (!s.git_write_back) return nullptr;
  const GitWriteBackRecord& r = *s.git_write_back;
  return {{"revision", r.revision},
          {"result", r.result.empty() ? "Pending" : r.result},
          {"requestedAt", format_rfc3339(r.requested_at)},
          {"finishedAt", r.result.empty() ? json() : json(format_rfc3339(r.finished_at))},
          {"commit", r.commit},
          {"revertCommit", r.revert_commit},
          {"message", r.message}};
}

void Controller::ask_git_write_back(RolloutState& state, const std::string& reason) {
  const GitWriteBackDeps* deps = deps_.git_write_back;
  if (!deps || !deps->start) return;
  const std::string mode =
      state.spec.git_write_back ? state.spec.git_write_back->on_abort : deps->default_on_abort;
  if (mode != "revert") return;
  const RevisionRecord* bad = state.revision(state.status.update_revision);
  const RevisionRecord* stable = state.revision(state.status.stable_revision);
  // Only a revision that rolls out what Git says now: an undo's revision, or one Git already
  // moved away from, has nothing of Git's to revert. And there must be a stable to go back to.
  if (!bad || !stable || bad->commit.empty() || !state.git_template ||
      !(*state.git_template == bad->spec.template_) ||
      stable->spec.template_ == bad->spec.template_)
    return;
  if (state.git_write_back && state.git_write_back->revision == bad->number) return;
  GitWriteBackRecord rec;
  rec.revision = bad->number;
  rec.commit = bad->commit;
  rec.reason = reason;
  rec.requested_at = deps_.clock.now();
  state.git_write_back = rec;
}

void Controller::start_git_write_back(RolloutState& state) {
  const GitWriteBackDeps* deps = deps_.git_write_back;
  if (!deps || !deps->start || !state.git_write_back || !state.git_write_back->result.empty())
    return;
  if (!write_backs_in_flight_.insert(state.name).second) return;
  const GitWriteBackRecord& rec = *state.git_write_back;
  const RevisionRecord* bad = state.revision(rec.revision);
  const RevisionRecord* stable = state.revision(state.status.stable_revision);
  GitWriteBackRequest request;
  request.rollout = state.name;
  request.revision = rec.revision;
  request.version = bad ? bad->spec.template_.version : "";
  request.commit = rec.commit;
  request.reason = rec.reason;
  request.stable_revision = state.status.stable_revision;
  if (stable) {
    request.stable_version = stable->spec.template_.version;
    request.stable_template = stable->spec.template_;
  }
  request.time = deps_.clock.now();
  spdlog::info("git write-back: reverting revision {} of {} (commit {})", rec.revision, state.name,
               rec.commit.substr(0, 12));
  std::weak_ptr<bool> alive = alive_;
  deps->start(request, [this, alive, name = state.name,
                        revision = rec.revision](GitWriteBackOutcome outcome) {
    auto locked = alive.lock();
    if (!locked || !*locked) return;
    deps_.scheduler.post([this, alive, name, revision, outcome = std::move(outcome)] {
      auto still = alive.lock();
      if (!still || !*still) return;
      git_write_back_done(name, revision, outcome);
    });
  });
}

void Controller::git_write_back_done(const std::string& rollout, int64_t revision,
                                     const GitWriteBackOutcome& outcome) {
  write_backs_in_flight_.erase(rollout);
  auto it = states_.find(rollout);
  if (it == states_.end()) return;
  RolloutState& state = it->second;
  if (!state.git_write_back || state.git_write_back->revision != revision ||
      !state.git_write_back->result.empty())
    return;
  GitWriteBackRecord& rec = *state.git_write_back;
  rec.finished_at = deps_.clock.now();
  strategies::Transition t;
  t.revision = revision;
  json evidence = {{"revertedRevision", revision},
                   {"revisionCommit", rec.commit},
                   {"file", outcome.file},
                   {"attempts", outcome.attempts}};
  if (!outcome.status.is_ok()) {
    rec.result = "GaveUp";
    rec.message = fmt::format("Git write-back of revision {} gave up: {}; the rollout stays on "
                              "stable revision {}",
                              revision, outcome.status.message(), state.status.stable_revision);
    t.reason = "GitWriteBackFailed";
    evidence["error"] = outcome.status.message();
  } else if (outcome.pushed) {
    rec.result = "Pushed";
    rec.revert_commit = outcome.commit;
    rec.message = fmt::format("pushed commit {} to Git: it reverts commit {} ({}) of revision {}",
                              outcome.commit.substr(0, 12), outcome.reverted_commit.substr(0, 12),
                              outcome.file, revision);
    t.reason = "GitWriteBack";
    evidence["commit"] = outcome.commit;
    evidence["revertedCommit"] = outcome.reverted_commit;
  } else {
    rec.result = "AlreadyInGit";
    rec.revert_commit = outcome.commit;
    rec.message =
        fmt::format("Git already says stable for revision {} at commit {}; nothing pushed",
                    revision, outcome.commit.substr(0, 12));
    t.reason = "GitWriteBack";
    evidence["commit"] = outcome.commit;
  }
  t.message = rec.message;
  record(state, t, "sluice", state.status.phase, evidence);
  (void)make_durable();  // no action follows; a failed flush holds as for any record
  refresh_read_model(state);
  schedule_publish();
}

}  // namespace sluice::controller
