#include "gitops/plan.h"

#include <git2.h>

#include <set>
#include <sstream>

#include "gitops/repository.h"

namespace sluice::gitops {
namespace {

std::string short_sha(const std::string& sha) {
  return sha.empty() ? "(empty)" : sha.substr(0, 12);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

PlanEntry entry_for(const RolloutChange& c, bool rejected) {
  PlanEntry e{c.name, "", "", c};
  if (rejected) {
    e.action = "error";
    e.detail = "the commit is invalid; the controller keeps the last good state";
    return e;
  }
  switch (c.kind) {
    case ChangeKind::kCreated:
      e.action = "new revision";
      e.detail = "create: first revision " + c.new_version + " at " +
                 std::to_string(c.new_replicas) + " replicas, no steps";
      break;
    case ChangeKind::kTemplateChanged:
      e.action = "new revision";
      e.detail = "version " + c.old_version + " -> " + c.new_version + ", runs the strategy";
      if (c.old_replicas != c.new_replicas)
        e.detail += ", replicas " + std::to_string(c.old_replicas) + " -> " +
                    std::to_string(c.new_replicas);
      break;
    case ChangeKind::kScaled:
      e.action = "scale";
      e.detail = "replicas " + std::to_string(c.old_replicas) + " -> " +
                 std::to_string(c.new_replicas) + " in place";
      break;
    case ChangeKind::kSpecChanged:
      e.action = "update";
      e.detail = join(c.fields) + " (no new revision; strategy changes apply to the next one)";
      break;
    case ChangeKind::kDeleted:
      e.action = "delete";
      e.detail = "removed from Git: scale " + std::to_string(c.old_replicas) +
                 " -> 0 within the termination grace period";
      break;
    case ChangeKind::kOrphaned:
      e.action = "orphan";
      e.detail = "removed from Git with prune: false: keeps running, orphaned";
      break;
    case ChangeKind::kUnchanged:
      e.action = "unchanged";
      break;
  }
  if (c.analysis_changed())
    e.detail += (e.detail.empty() ? "" : "; ") + std::string("analysis template(s) ") +
                join(c.changed_templates) + " changed (used by the next analysis run)";
  return e;
}

}  // namespace

Result<Plan> make_plan(const PlanRequest& request) {
  auto repo = GitRepository::open_existing(request.repo);
  if (!repo) return repo.status();
  auto to_sha = (*repo)->resolve(request.to.empty() ? "HEAD" : request.to);
  if (!to_sha) return to_sha.status();
  std::string from_sha;
  if (!request.from.empty()) {
    auto resolved = (*repo)->resolve(request.from);
    if (!resolved) return resolved.status();
    from_sha = *resolved;
  } else {
    git_oid oid;
    git_oid_fromstr(&oid, to_sha->c_str());
    git_commit* commit = nullptr;
    if (git_commit_lookup(&commit, (*repo)->raw(), &oid) != 0)
      return not_found("commit " + *to_sha + ": " + last_git_error());
    if (git_commit_parentcount(commit) > 0) {
      char hex[GIT_OID_HEXSZ + 1] = {};
      git_oid_tostr(hex, sizeof hex, git_commit_parent_id(commit, 0));
      from_sha = hex;
    }
    git_commit_free(commit);
  }

  SnapshotBuilder builder(request.path);
  Snapshot before = SnapshotBuilder::empty();
  if (!from_sha.empty()) {
    auto snap = builder.build((*repo)->raw(), from_sha);
    if (!snap) return snap.status();
    before = std::move(*snap);
  }
  auto after = builder.build((*repo)->raw(), *to_sha);
  if (!after) return after.status();

  Plan plan;
  plan.from = before.commit;
  plan.to = after->commit;
  plan.diagnostics = after->manifests.diagnostics;
  plan.diff = diff_sets(before.manifests, after->manifests);
  for (const auto& change : plan.diff.rollouts)
    plan.entries.push_back(entry_for(change, !plan.ok()));
  return plan;
}

std::string format_plan(const Plan& plan) {
  std::ostringstream out;
  for (const auto& d : plan.diagnostics) out << d.to_string() << "\n";
  out << "plan " << short_sha(plan.from.sha) << ".." << short_sha(plan.to.sha);
  if (!plan.to.sha.empty()) out << " \"" << plan.to.summary() << "\" by " << plan.to.author;
  out << "\n";
  if (!plan.ok())
    out << "error: " << short_sha(plan.to.sha) << " has " << plan.diagnostics.size()
        << " error(s); the controller would keep the last good commit\n";
  size_t width = 0;
  for (const auto& e : plan.entries) width = std::max(width, e.name.size());
  for (const auto& e : plan.entries) {
    out << "  " << e.name << std::string(width - e.name.size() + 2, ' ') << e.action;
    if (!e.detail.empty()) out << ": " << e.detail;
    out << "\n";
  }
  if (plan.entries.empty()) out << "  (no rollouts)\n";
  return out.str();
}

nlohmann::json to_json(const Plan& plan) {
  auto commit = [](const CommitInfo& c) -> nlohmann::json {
    if (c.sha.empty()) return nullptr;
    return {{"sha", c.sha},
            {"author", c.author},
            {"email", c.author_email},
            {"time", format_rfc3339(c.time)},
            {"message", c.message}};
  };
  nlohmann::json rollouts = nlohmann::json::array();
  for (const auto& e : plan.entries) {
    nlohmann::json j = to_json(e.change);
    j["action"] = e.action;
    j["detail"] = e.detail;
    rollouts.push_back(std::move(j));
  }
  nlohmann::json diagnostics = nlohmann::json::array();
  for (const auto& d : plan.diagnostics)
    diagnostics.push_back({{"file", d.pos.file},
                           {"line", d.pos.line},
                           {"column", d.pos.column},
                           {"kind", d.kind},
                           {"name", d.name},
                           {"field", d.field},
                           {"message", d.message},
                           {"text", d.to_string()}});
  auto diff = to_json(plan.diff);
  return {{"from", commit(plan.from)},
          {"to", commit(plan.to)},
          {"ok", plan.ok()},
          {"rollouts", rollouts},
          {"analysisTemplates", diff["analysisTemplates"]},
          {"diagnostics", diagnostics}};
}

}  // namespace sluice::gitops
