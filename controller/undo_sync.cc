#include "controller/undo_sync.h"

#include <fmt/format.h>

namespace sluice::controller {

using nlohmann::json;

const RevisionRecord* undo_target(const RolloutState& state) {
  const auto& s = state.status;
  if (s.in_progress()) return state.revision(s.stable_revision);  // null before a first stable
  const RevisionRecord* current = state.revision(s.update_revision);
  if (!current) return nullptr;
  for (auto r = state.revisions.rbegin(); r != state.revisions.rend(); ++r) {
    if (r->number < current->number && r->result == "Completed" &&
        r->spec.template_ != current->spec.template_) {
      return &*r;
    }
  }
  return nullptr;
}

json undo_json(const RolloutState& state) {
  const RevisionRecord* target = undo_target(state);
  if (!target) return nullptr;
  return {{"toRevision", target->number}, {"version", target->spec.template_.version}};
}

json sync_json(const RolloutState& state) {
  const auto& s = state.status;
  const RevisionRecord* serving = state.revision(s.stable_revision);
  const RevisionRecord* update = state.revision(s.update_revision);
  const std::string git_version = state.git_template ? state.git_template->version : "";
  const std::string git_says =
      fmt::format("Git says {} at {}", git_version.empty() ? "?" : git_version,
                  state.commit.empty() ? "?" : state.commit.substr(0, 7));
  std::string status = "Synced";
  std::string reason;
  if (s.aborted && update) {
    status = "OutOfSync";
    reason = fmt::format("revision {} ({}) aborted: {}", update->number,
                         update->spec.template_.version, s.message);
    if (serving) {
      reason += fmt::format("; revision {} ({}) serves", serving->number,
                            serving->spec.template_.version);
    }
  } else if (update && state.git_template && update->spec.template_ != *state.git_template) {
    status = "OutOfSync";
    reason = state.undo_note.empty() ? fmt::format("revision {} ({}) is not Git's template",
                                                   update->number, update->spec.template_.version)
                                     : state.undo_note;
    reason += "; " + git_says;
  }
  auto or_null = [](const std::string& v) { return v.empty() ? json(nullptr) : json(v); };
  return {{"status", status},
          {"gitRevision", or_null(state.commit)},
          {"gitVersion", or_null(git_version)},
          {"runningRevision", serving ? or_null(serving->commit) : json(nullptr)},
          {"runningVersion", serving ? or_null(serving->spec.template_.version) : json(nullptr)},
          {"reason", reason}};
}

}  // namespace sluice::controller
