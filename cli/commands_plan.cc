// `sluice plan --repo PATH [--from REV] [--to REV] [--path DIR] [-o json]`: what a commit would
// change, offline (gitops/plan.h). Exit 0 when the target commit is valid, 1 when it has errors
// (diagnostics in lint format) or the repository/revisions cannot be read.
#include <iostream>

#include "cli/commands.h"
#include "gitops/plan.h"

namespace sluice::cli {

void register_plan_command(CLI::App& app, CommandRegistry& registry) {
  auto request = std::make_shared<gitops::PlanRequest>();
  auto output = std::make_shared<std::string>("text");
  CLI::App* cmd = app.add_subcommand("plan", "Show what a commit would change, offline");
  cmd->add_option("--repo", request->repo, "Local repository path")->required();
  cmd->add_option("--from", request->from,
                  "Base revision (default: the parent of --to, or the empty tree)");
  cmd->add_option("--to", request->to, "Target revision")->capture_default_str();
  cmd->add_option("--path", request->path, "Manifests root inside the repository");
  cmd->add_option("-o,--output", *output, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([request, output, &registry] {
    auto plan = gitops::make_plan(*request);
    if (!plan) {
      if (*output == "json")
        std::cout << nlohmann::json{{"error", plan.status().message()}}.dump(2) << "\n";
      else
        std::cerr << "sluice plan: " << plan.status().message() << "\n";
      registry.set_exit_code(1);
      return;
    }
    if (*output == "json")
      std::cout << gitops::to_json(*plan).dump(2) << "\n";
    else
      std::cout << gitops::format_plan(*plan);
    registry.set_exit_code(plan->ok() ? 0 : 1);
  });
}

}  // namespace sluice::cli
