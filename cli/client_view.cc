#include "cli/client_view.h"

#include <algorithm>

#include <fmt/format.h>

namespace sluice::cli {
namespace {

using nlohmann::json;

std::string str(const json& j, const char* key, const std::string& fallback = "") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

int num(const json& j, const char* key, int fallback = 0) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return fallback;
  return it->get<int>();
}

const char* phase_color(const std::string& phase) {
  if (phase == "Healthy") return "\033[32m";
  if (phase == "Degraded") return "\033[31m";
  if (phase == "Paused") return "\033[35m";
  if (phase == "Progressing") return "\033[33m";
  return "";
}

std::string paint(const std::string& text, const char* color, bool enabled) {
  if (!enabled || !*color) return text;
  return std::string(color) + text + "\033[0m";
}

// One step as a short phrase; `step` is one entry of the rollout object's `steps` (the manifest
// spelling, controller/spec_json.h). Unknown step kinds show their key, never fail.
std::string step_text(const json& step) {
  if (!step.is_object() || step.empty()) return step.dump();
  if (step.contains("setWeight")) return "setWeight " + step["setWeight"].dump() + "%";
  if (step.contains("pause")) {
    const json& p = step["pause"];
    if (p.is_object() && p.contains("duration")) return "pause " + str(p, "duration");
    return "pause (until promoted)";
  }
  if (step.contains("analysis")) {
    std::string names;
    for (const auto& t : step["analysis"].value("templates", json::array())) {
      names += (names.empty() ? " " : ", ") + str(t, "templateName");
    }
    return "analysis" + names;
  }
  if (step.contains("setCanaryScale")) {
    const json& c = step["setCanaryScale"];
    if (c.contains("replicas")) return "setCanaryScale " + str(c, "replicas") + " replicas";
    if (c.contains("weight")) return "setCanaryScale " + str(c, "weight") + "% of replicas";
    return "setCanaryScale matchTrafficWeight";
  }
  if (step.contains("setHeaderRoute")) {
    const json& h = step["setHeaderRoute"];
    const json match = h.value("match", json::array());
    if (match.empty()) return "setHeaderRoute " + str(h, "name") + " (removed)";
    std::string rules;
    for (const auto& m : match) {
      const json v = m.value("headerValue", json::object());
      std::string how = v.contains("exact")    ? "=" + str(v, "exact")
                        : v.contains("prefix") ? " prefix " + str(v, "prefix")
                                               : " ~ " + str(v, "regex");
      rules += (rules.empty() ? "" : ", ") + str(m, "headerName") + how;
    }
    return "setHeaderRoute " + str(h, "name") + " (" + rules + ")";
  }
  return step.begin().key();
}

}  // namespace

std::string sync_text(const json& r) {
  const json sync = r.value("sync", json());
  if (!sync.is_object()) return "";
  const std::string status = str(sync, "status");
  const std::string reason = str(sync, "reason");
  return reason.empty() ? status : fmt::format("{} ({})", status, reason);
}

bool commit_matches(const std::string& commit, const std::string& expected) {
  if (expected.empty()) return true;
  if (commit.empty()) return false;
  if (expected.size() <= commit.size()) return commit.compare(0, expected.size(), expected) == 0;
  return expected.compare(0, commit.size(), commit) == 0 && commit.size() >= 7;
}

StatusJudgement judge_status(const json& r, const StatusCriteria& criteria) {
  StatusJudgement out;
  std::string name = str(r, "name");
  std::string phase = str(r, "phase");
  const json desired = r.value("desired", json::object());
  std::string commit = str(desired, "commit");
  std::string version = str(desired, "version");
  bool aborted = r.value("aborted", false);
  bool at_revision = commit_matches(commit, criteria.revision);
  out.summary = fmt::format("{} is {}{} at {} (commit {})", name, phase,
                            aborted ? " (aborted)" : "", version, commit.substr(0, 8));
  // What runs differs from Git (after an undo or an abort): said, never judged here.
  if (const std::string sync = sync_text(r); !sync.empty()) out.summary += "; " + sync;
  if (!at_revision) {
    out.summary += fmt::format("; waiting for commit {}", criteria.revision);
    return out;
  }
  if (aborted || phase == "Degraded") {
    out.verdict = Verdict::kFailed;
  } else if (phase == "Healthy" || (phase == "Paused" && criteria.success_on_pause)) {
    out.verdict = Verdict::kSucceeded;
  }
  return out;
}

std::string render_rollout_table(const json& list, bool color) {
  const json items = list.value("items", json::array());
  std::string out =
      fmt::format("{:<24} {:<12} {:<10} {:<14} {:>5} {:>7} {:<12} {:<9}\n", "NAME", "PHASE", "SYNC",
                  "STRATEGY", "STEP", "CANARY", "DESIRED", "READY");
  for (const auto& r : items) {
    std::string phase = str(r, "phase");
    const json canary = r.value("canary", json());
    std::string ready = canary.is_object()
                            ? fmt::format("{}/{}", num(canary, "ready"), num(canary, "replicas"))
                            : fmt::format("{}/{}", num(r.value("stable", json()), "ready"),
                                          num(r.value("stable", json()), "replicas"));
    std::string step = r.contains("currentStepIndex") ? str(r, "currentStepIndex") : "-";
    std::string phase_cell = fmt::format("{:<12}", phase + (r.value("aborted", false) ? "!" : ""));
    out += fmt::format("{:<24} {} {:<10} {:<14} {:>5} {:>6}% {:<12} {:<9}\n", str(r, "name"),
                       paint(phase_cell, phase_color(phase), color),
                       str(r.value("sync", json()), "status", "-"), str(r, "strategy"), step,
                       num(r.value("weights", json()), "canary"),
                       str(r.value("desired", json()), "version"), ready);
  }
  return out;
}

std::string render_rollout(const json& r, bool color) {
  std::string phase = str(r, "phase");
  std::string out;
  out += fmt::format("Name:      {}\n", str(r, "name"));
  out += fmt::format("Phase:     {}{}\n", paint(phase, phase_color(phase), color),
                     r.value("aborted", false) ? " (aborted)" : "");
  if (const std::string sync = sync_text(r); !sync.empty())
    out += fmt::format("Sync:      {}\n", sync);
  out += fmt::format("Strategy:  {}\n", str(r, "strategy"));
  if (!str(r, "message").empty()) out += fmt::format("Message:   {}\n", str(r, "message"));
  const json desired = r.value("desired", json::object());
  out += fmt::format("Desired:   revision {} version {} commit {}\n", str(desired, "revision"),
                     str(desired, "version"), str(desired, "commit").substr(0, 12));
  for (const char* which : {"stable", "canary"}) {
    const json v = r.value(which, json());
    if (!v.is_object()) {
      out += fmt::format("{:<10} -\n", std::string(which) + ":");
      continue;
    }
    out += fmt::format("{:<10} revision {} version {} ready {}/{}\n", std::string(which) + ":",
                       str(v, "revision"), str(v, "version"), num(v, "ready"), num(v, "replicas"));
  }
  const json undo = r.value("undo", json());
  if (undo.is_object()) {
    out += fmt::format("Undo:      to revision {} ({})\n", str(undo, "toRevision"),
                       str(undo, "version"));
  }
  const json w = r.value("weights", json::object());
  int canary = std::clamp(num(w, "canary"), 0, 100);
  int cells = canary * 40 / 100;
  std::string bar = paint(std::string(static_cast<size_t>(40 - cells), '#'), "\033[34m", color) +
                    paint(std::string(static_cast<size_t>(cells), '#'), "\033[33m", color);
  if (!color)
    bar = std::string(static_cast<size_t>(40 - cells), '=') +
          std::string(static_cast<size_t>(cells), '#');
  out += fmt::format("Weights:   [{}] stable {}% canary {}%\n", bar, num(w, "stable"), canary);
  const json steps = r.value("steps", json::array());
  int current = num(r, "currentStepIndex", -1);
  if (steps.is_array() && !steps.empty()) {
    out += "Steps:\n";
    for (size_t i = 0; i < steps.size(); ++i) {
      bool here = static_cast<int>(i) == current;
      std::string mark = here ? "->" : (static_cast<int>(i) < current ? " v" : "  ");
      std::string line = fmt::format("  {} {}. {}", mark, i, step_text(steps[i]));
      out += (here ? paint(line, "\033[1m", color) : line) + "\n";
    }
  } else if (current >= 0) {
    out += fmt::format("Step:      {}\n", current);
  }
  const json runs = r.value("analysisRuns", json::array());
  if (runs.is_array() && !runs.empty()) {
    out += "Analysis:\n";
    for (const auto& run : runs) {
      out += fmt::format("  {} {}\n", str(run, "name"), str(run, "phase"));
      for (const auto& m : run.value("metrics", json::array())) {
        std::string values;
        const json ms = m.value("measurements", json::array());
        size_t start = ms.size() > 5 ? ms.size() - 5 : 0;
        for (size_t i = start; i < ms.size(); ++i)
          values += (values.empty() ? "" : " ") + str(ms[i], "value");
        out +=
            fmt::format("    {:<20} {:<12} latest: {}\n", str(m, "name"), str(m, "phase"), values);
      }
    }
  }
  return out;
}

std::string render_history(const json& history) {
  std::string out = fmt::format("{:<9} {:<12} {:<14} {:<12} {}\n", "REVISION", "VERSION", "COMMIT",
                                "RESULT", "REASON");
  for (const auto& h : history.value("items", json::array())) {
    out += fmt::format("{:<9} {:<12} {:<14} {:<12} {}\n", str(h, "revision"), str(h, "version"),
                       str(h, "commit").substr(0, 12), str(h, "result"), str(h, "reason"));
  }
  return out;
}

std::string render_event(const json& e) {
  std::string out =
      fmt::format("{} #{} {} {}", str(e, "time"), str(e, "id"), str(e, "rollout"), str(e, "type"));
  if (!str(e, "actor").empty()) out += " by " + str(e, "actor");
  if (!str(e, "message").empty()) out += ": " + str(e, "message");
  const json ev = e.value("evidence", json());
  if (ev.is_object() && !ev.empty()) out += " evidence=" + ev.dump();
  return out;
}

}  // namespace sluice::cli
