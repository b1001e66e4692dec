// `sluice lint PATH...` and `sluice schema`.
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "manifests/loader.h"
#include "manifests/schema.h"

namespace sluice::cli {

namespace {

nlohmann::json diagnostic_json(const manifests::Diagnostic& d) {
  return {{"file", d.pos.file},   {"line", d.pos.line},   {"column", d.pos.column},
          {"kind", d.kind},       {"name", d.name},       {"field", d.field},
          {"message", d.message}, {"text", d.to_string()}};
}

int lint(const std::vector<std::string>& paths, const std::string& output, int max_replicas) {
  manifests::LoadLimits limits;
  limits.max_replicas = max_replicas;
  const manifests::ManifestSet set = manifests::load_paths(paths, limits);
  if (output == "json") {
    nlohmann::json out;
    out["valid"] = set.ok();
    out["rollouts"] = nlohmann::json::array();
    for (const auto& r : set.rollouts) {
      out["rollouts"].push_back(
          {{"name", r.rollout.metadata.name},
           {"file", r.origin.file},
           {"line", r.origin.pos.line},
           {"strategy",
            manifests::strategy_kind_name(manifests::strategy_kind(r.rollout.spec.strategy))}});
    }
    out["analysisTemplates"] = nlohmann::json::array();
    for (const auto& t : set.templates) {
      out["analysisTemplates"].push_back(
          {{"name", t.templ.metadata.name}, {"file", t.origin.file}, {"line", t.origin.pos.line}});
    }
    out["errors"] = nlohmann::json::array();
    for (const auto& d : set.diagnostics) out["errors"].push_back(diagnostic_json(d));
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    for (const auto& d : set.diagnostics) std::printf("%s\n", d.to_string().c_str());
    if (set.ok()) {
      std::printf("ok: %zu Rollout(s), %zu AnalysisTemplate(s)\n", set.rollouts.size(),
                  set.templates.size());
    } else {
      std::fprintf(stderr, "%zu error(s)\n", set.diagnostics.size());
    }
  }
  return set.ok() ? 0 : 1;
}

}  // namespace

void register_lint_command(CLI::App& app, CommandRegistry& registry) {
  struct Options {
    std::vector<std::string> paths;
    std::string output = "text";
    int max_replicas = manifests::LoadLimits{}.max_replicas;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("lint", "Validate manifests offline (exit 0 valid, 1 errors)");
  cmd->add_option("paths", options->paths, "Files or directories of *.yaml / *.yml")->required();
  cmd->add_option("-o,--output", options->output, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--max-replicas", options->max_replicas,
                  "The serve limit to check spec.replicas against (default 256)")
      ->check(CLI::Range(1, 10'000));
  cmd->callback([options, &registry] {
    registry.set_exit_code(lint(options->paths, options->output, options->max_replicas));
  });

  auto* schema = app.add_subcommand("schema", "Print the JSON Schema of the manifests");
  schema->callback([&registry] {
    std::printf("%s\n", manifests::generate_schema().dump(2).c_str());
    registry.set_exit_code(0);
  });
}

}  // namespace sluice::cli
