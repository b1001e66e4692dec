#include "gitops/diff.h"

#include <algorithm>
#include <map>
#include <set>

namespace sluice::gitops {
using manifests::AnalysisTemplate;
using manifests::ManifestSet;
using manifests::Rollout;
using manifests::RolloutAnalysis;

namespace {

void add_refs(const RolloutAnalysis& analysis, std::set<std::string>& out) {
  for (const auto& t : analysis.templates) out.insert(t.template_name);
}

template <typename T>
void add_optional_refs(const std::optional<T>& analysis, std::set<std::string>& out) {
  if (analysis) add_refs(*analysis, out);
}

// Top-level spec fields that differ, as manifest field paths. Template changes are reported as
// one field: the whole template is the unit of a revision.
std::vector<std::string> changed_fields(const Rollout& a, const Rollout& b) {
  std::vector<std::string> fields;
  const auto& x = a.spec;
  const auto& y = b.spec;
  if (a.metadata.labels != b.metadata.labels) fields.push_back("metadata.labels");
  if (x.min_ready_seconds != y.min_ready_seconds) fields.push_back("spec.minReadySeconds");
  if (x.paused != y.paused) fields.push_back("spec.paused");
  if (x.progress_deadline_abort != y.progress_deadline_abort)
    fields.push_back("spec.progressDeadlineAbort");
  if (x.progress_deadline_seconds != y.progress_deadline_seconds)
    fields.push_back("spec.progressDeadlineSeconds");
  if (x.prune != y.prune) fields.push_back("spec.prune");
  if (x.replicas != y.replicas) fields.push_back("spec.replicas");
  if (x.revision_history_limit != y.revision_history_limit)
    fields.push_back("spec.revisionHistoryLimit");
  if (x.rollback_window_revisions != y.rollback_window_revisions)
    fields.push_back("spec.rollbackWindow");
  if (x.service != y.service) fields.push_back("spec.service");
  if (x.strategy != y.strategy) fields.push_back("spec.strategy");
  if (x.template_ != y.template_) fields.push_back("spec.template");
  std::sort(fields.begin(), fields.end());
  return fields;
}

ChangeKind classify(const std::vector<std::string>& fields) {
  if (fields.empty()) return ChangeKind::kUnchanged;
  if (std::find(fields.begin(), fields.end(), "spec.template") != fields.end())
    return ChangeKind::kTemplateChanged;
  if (fields == std::vector<std::string>{"spec.replicas"}) return ChangeKind::kScaled;
  return ChangeKind::kSpecChanged;
}

}  // namespace

const char* change_kind_name(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kUnchanged:
      return "unchanged";
    case ChangeKind::kCreated:
      return "created";
    case ChangeKind::kTemplateChanged:
      return "templateChanged";
    case ChangeKind::kScaled:
      return "scaled";
    case ChangeKind::kSpecChanged:
      return "specChanged";
    case ChangeKind::kDeleted:
      return "deleted";
    case ChangeKind::kOrphaned:
      return "orphaned";
  }
  return "unknown";
}

std::vector<std::string> referenced_templates(const Rollout& rollout) {
  std::set<std::string> refs;
  std::visit(
      [&](const auto& strategy) {
        using S = std::decay_t<decltype(strategy)>;
        if constexpr (std::is_same_v<S, manifests::CanaryStrategy>) {
          add_optional_refs(strategy.analysis, refs);
          for (const auto& step : strategy.steps)
            if (const auto* a = std::get_if<RolloutAnalysis>(&step)) add_refs(*a, refs);
        } else if constexpr (std::is_same_v<S, manifests::BlueGreenStrategy>) {
          add_optional_refs(strategy.pre_promotion_analysis, refs);
          add_optional_refs(strategy.post_promotion_analysis, refs);
        }
      },
      rollout.spec.strategy);
  return {refs.begin(), refs.end()};
}

bool SetDiff::empty() const {
  if (!templates_added.empty() || !templates_changed.empty() || !templates_removed.empty())
    return false;
  return std::all_of(rollouts.begin(), rollouts.end(), [](const RolloutChange& c) {
    return c.kind == ChangeKind::kUnchanged && !c.analysis_changed();
  });
}

const RolloutChange* SetDiff::find(const std::string& name) const {
  for (const auto& c : rollouts)
    if (c.name == name) return &c;
  return nullptr;
}

SetDiff diff_sets(const ManifestSet& before, const ManifestSet& after) {
  SetDiff diff;
  std::map<std::string, const AnalysisTemplate*> old_templates, new_templates;
  for (const auto& t : before.templates) old_templates[t.templ.metadata.name] = &t.templ;
  for (const auto& t : after.templates) new_templates[t.templ.metadata.name] = &t.templ;
  std::set<std::string> touched_templates;
  for (const auto& [name, templ] : new_templates) {
    auto it = old_templates.find(name);
    if (it == old_templates.end()) {
      diff.templates_added.push_back(name);
      touched_templates.insert(name);
    } else if (!(*it->second == *templ)) {
      diff.templates_changed.push_back(name);
      touched_templates.insert(name);
    }
  }
  for (const auto& [name, templ] : old_templates) {
    if (!new_templates.count(name)) {
      diff.templates_removed.push_back(name);
      touched_templates.insert(name);
    }
  }

  std::map<std::string, std::pair<const Rollout*, const Rollout*>> pairs;
  for (const auto& r : before.rollouts) pairs[r.rollout.metadata.name].first = &r.rollout;
  for (const auto& r : after.rollouts) pairs[r.rollout.metadata.name].second = &r.rollout;
  for (const auto& [name, pair] : pairs) {
    const auto [old_r, new_r] = pair;
    RolloutChange change;
    change.name = name;
    std::set<std::string> refs;
    if (old_r) {
      change.old_replicas = old_r->spec.replicas;
      change.old_version = old_r->spec.template_.version;
      for (auto& t : referenced_templates(*old_r)) refs.insert(t);
    }
    if (new_r) {
      change.new_replicas = new_r->spec.replicas;
      change.new_version = new_r->spec.template_.version;
      for (auto& t : referenced_templates(*new_r)) refs.insert(t);
    }
    if (!old_r) {
      change.kind = ChangeKind::kCreated;
    } else if (!new_r) {
      change.kind = old_r->spec.prune ? ChangeKind::kDeleted : ChangeKind::kOrphaned;
    } else {
      change.fields = changed_fields(*old_r, *new_r);
      change.kind = classify(change.fields);
    }
    for (const auto& t : refs)
      if (touched_templates.count(t) && old_r && new_r) change.changed_templates.push_back(t);
    diff.rollouts.push_back(std::move(change));
  }
  return diff;
}

nlohmann::json to_json(const RolloutChange& change) {
  nlohmann::json j = {{"name", change.name},
                      {"change", change_kind_name(change.kind)},
                      {"fields", change.fields},
                      {"replicas", {{"from", change.old_replicas}, {"to", change.new_replicas}}},
                      {"version", {{"from", change.old_version}, {"to", change.new_version}}},
                      {"analysisTemplatesChanged", change.changed_templates}};
  return j;
}

nlohmann::json to_json(const SetDiff& diff) {
  nlohmann::json rollouts = nlohmann::json::array();
  for (const auto& c : diff.rollouts) rollouts.push_back(to_json(c));
  return {{"rollouts", rollouts},
          {"analysisTemplates",
           {{"added", diff.templates_added},
            {"changed", diff.templates_changed},
            {"removed", diff.templates_removed}}}};
}

}  // namespace sluice::gitops
