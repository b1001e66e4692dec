#include "manifests/types.h"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

namespace sluice::manifests {

int IntOrPercent::resolve(int total, bool round_up) const {
  if (!percent) return value;
  const int64_t scaled = static_cast<int64_t>(total) * value;
  return static_cast<int>(round_up ? (scaled + 99) / 100 : scaled / 100);
}

std::string IntOrPercent::to_string() const {
  return percent ? fmt::format("{}%", value) : fmt::format("{}", value);
}

const char* strategy_kind_name(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::kRollingUpdate:
      return "rollingUpdate";
    case StrategyKind::kCanary:
      return "canary";
    case StrategyKind::kBlueGreen:
      return "blueGreen";
  }
  return "unknown";
}

const char* provider_name(const MetricProvider& provider) {
  static const char* const kNames[] = {"builtin", "prometheus", "scrape", "web",
                                       "job",     "rabbitmq",   "kafka",  "judge"};
  return kNames[provider.index()];
}

SourcePos DocumentOrigin::find(const std::string& path) const {
  std::string p = path;
  while (true) {
    if (auto it = positions.find(p); it != positions.end()) return it->second;
    if (p.empty()) return pos;
    // Strip the last segment: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
    const size_t cut = p.find_last_of(".[");
    p = cut == std::string::npos ? std::string() : p.substr(0, cut);
  }
}

std::string DocumentOrigin::canary_step_path(size_t model_index) const {
  const size_t source_index =
      model_index < canary_step_sources.size() ? canary_step_sources[model_index] : model_index;
  return fmt::format("spec.strategy.canary.steps[{}]", source_index);
}

std::string Diagnostic::to_string() const {
  std::string out = pos.file.empty() ? std::string("<input>") : pos.file;
  if (pos.known()) out += fmt::format(":{}:{}", pos.line, pos.column);
  out += ": ";
  if (!kind.empty()) out += fmt::format("{}/{}: ", kind, name.empty() ? "<unnamed>" : name);
  if (!field.empty()) out += field + ": ";
  out += message;
  return out;
}

bool Diagnostic::operator<(const Diagnostic& o) const {
  return std::tie(pos.file, pos.line, pos.column, kind, name, field, message) <
         std::tie(o.pos.file, o.pos.line, o.pos.column, o.kind, o.name, o.field, o.message);
}

const LoadedRollout* ManifestSet::find_rollout(const std::string& name) const {
  auto it = std::find_if(rollouts.begin(), rollouts.end(),
                         [&](const LoadedRollout& r) { return r.rollout.metadata.name == name; });
  return it == rollouts.end() ? nullptr : &*it;
}

const LoadedAnalysisTemplate* ManifestSet::find_template(const std::string& name) const {
  auto it = std::find_if(templates.begin(), templates.end(), [&](const LoadedAnalysisTemplate& t) {
    return t.templ.metadata.name == name;
  });
  return it == templates.end() ? nullptr : &*it;
}

}  // namespace sluice::manifests
