#include "cli/client_view.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include <fmt/format.h>

#include "cli/evidence_view.h"

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


// The revision of an analysis run: its `revision` field, or the "r<N>." the controller puts
// after the rollout's name ("orders-api-r3.a0.step2"); 0 when neither says.
int64_t run_revision(const json& run, const std::string& rollout) {
  if (run.contains("revision") && run["revision"].is_number_integer())
    return run["revision"].get<int64_t>();
  const std::string name = str(run, "name");
  const std::string prefix = rollout + "-r";
  if (name.rfind(prefix, 0) != 0) return 0;
  size_t pos = prefix.size();
  int64_t revision = 0;
  size_t digits = 0;
  while (pos < name.size() && std::isdigit(static_cast<unsigned char>(name[pos])) && digits < 18) {
    revision = revision * 10 + (name[pos] - '0');
    ++pos;
    ++digits;
  }
  return digits > 0 && pos < name.size() && name[pos] == '.' ? revision : 0;
}

int64_t revision_of(const json& j) {
  if (!j.is_object()) return 0;
  auto it = j.find("revision");
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// One instance's INFO column: restarts, crash loop, last exit, last error.
std::string instance_info(const json& i, int64_t now) {
  std::string info = fmt::format("restarts:{}", num(i, "restarts"));
  if (i.value("crashLoop", false)) info += " CrashLoopBackOff";
  const json exit = i.value("lastExit", json());
  if (exit.is_object()) {
    std::string what = str(exit, "reason");
    if (what.empty()) {
      what = exit.contains("code") && exit["code"].is_number()
                 ? "exited with code " + exit["code"].dump()
                 : "killed by signal " + str(exit, "signal", "?");
    }
    info += " last exit: " + what;
    if (now > 0 && exit.contains("at") && exit["at"].is_string())
      info += " (" + age_text(exit["at"], now) + " ago)";
  }
  if (!str(i, "lastError").empty() && !i.value("ready", false))
    info += " error: " + str(i, "lastError");
  return info;
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
  if (aborted) {
    // Say what serves: "at 3.0.0" would read as if the aborted version ran.
    const json stable = r.value("stable", json());
    const std::string serving = stable.is_object() ? str(stable, "version") : "";
    out.summary = fmt::format("{} is {} (aborted): revision {} ({}, commit {}) was rolled back{}",
                              name, phase, desired.value("revision", 0), version,
                              commit.substr(0, 8), serving.empty() ? "" : "; " + serving + " serves");
    // The drift is the abort itself, whose reason follows: the status alone.
    const json sync = r.value("sync", json());
    if (sync.is_object() && !str(sync, "status").empty()) out.summary += "; " + str(sync, "status");
  } else {
    out.summary = fmt::format("{} is {} at {} (commit {})", name, phase, version,
                              commit.substr(0, 8));
    // What runs differs from Git (after an undo): said, never judged here.
    if (const std::string sync = sync_text(r); !sync.empty()) out.summary += "; " + sync;
  }
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

std::string step_label(const json& r) {
  const json steps = r.value("steps", json::array());
  const json canary = r.value("canary", json());
  if (!steps.is_array() || steps.empty() || !canary.is_object()) return "";
  const int index = num(r, "currentStepIndex", -1);
  if (index < 0) return "";
  const int total = static_cast<int>(steps.size());
  return fmt::format("{}/{}", std::min(index + 1, total), total);
}

std::string age_text(const json& rfc3339, int64_t now) {
  if (!rfc3339.is_string() || now <= 0) return "-";
  const std::string text = rfc3339.get<std::string>();
  std::tm tm{};
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return "-";
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const int64_t then = static_cast<int64_t>(timegm(&tm));
  const int64_t seconds = std::max<int64_t>(0, now - then);
  if (seconds < 120) return fmt::format("{}s", seconds);
  if (seconds < 2 * 3600) return fmt::format("{}m", seconds / 60);
  if (seconds < 2 * 86400) return fmt::format("{}h", seconds / 3600);
  return fmt::format("{}d", seconds / 86400);
}

std::string render_revision_tree(const json& r, bool color, int64_t now) {
  const std::string name = str(r, "name");
  const json instances = r.value("instances", json::array());
  const json runs = r.value("analysisRuns", json::array());
  const int64_t stable = revision_of(r.value("stable", json()));
  const int64_t canary = revision_of(r.value("canary", json()));
  const int64_t desired = revision_of(r.value("desired", json()));
  // Newest revision first; each with what it runs and what judged it.
  std::map<int64_t, std::pair<std::vector<json>, std::vector<json>>, std::greater<>> revisions;
  std::map<int64_t, std::string> versions;
  for (const char* which : {"stable", "canary"}) {
    const int64_t rev = revision_of(r.value(which, json()));
    if (rev == 0) continue;
    revisions[rev];
    versions[rev] = str(r[which], "version");
  }
  if (instances.is_array()) {
    for (const auto& i : instances) {
      const int64_t rev = revision_of(i);
      revisions[rev].first.push_back(i);
      if (!str(i, "version").empty()) versions[rev] = str(i, "version");
    }
  }
  if (runs.is_array()) {
    for (const auto& run : runs) revisions[run_revision(run, name)].second.push_back(run);
  }
  if (revisions.empty()) return "";
  const char* ok = color ? "\033[32m\u2714\033[0m" : "\u2714";
  const char* bad = color ? "\033[31m\u2716\033[0m" : "\u2716";
  std::string out = fmt::format("{:<44} {:<14} {:>5}  {}\n", "REVISION / INSTANCE / ANALYSIS",
                                "STATUS", "AGE", "INFO");
  for (auto& [rev, children] : revisions) {
    auto& [insts, rev_runs] = children;
    std::vector<std::string> tags;
    if (!versions[rev].empty()) tags.push_back(versions[rev]);
    if (rev == stable) tags.push_back("stable");
    if (rev == canary) tags.push_back(str(r, "strategy") == "blueGreen" ? "preview" : "canary");
    if (rev == desired && rev != stable && rev != canary) tags.push_back("desired");
    std::string title = rev > 0 ? fmt::format("# revision {}", rev) : "# revision unknown";
    for (const auto& t : tags) title += "  " + t;
    out += title + "\n";
    std::sort(insts.begin(), insts.end(),
              [](const json& a, const json& b) { return str(a, "id") < str(b, "id"); });
    const size_t total = insts.size() + rev_runs.size();
    size_t n = 0;
    for (const auto& i : insts) {
      const char* branch = ++n == total ? "\u2514\u2500\u2500" : "\u251c\u2500\u2500";
      const bool ready = i.value("ready", false);
      std::string status = i.value("terminating", false) ? "\u25cc terminating"
                           : ready                        ? std::string(ok) + " ready"
                                                          : std::string(bad) + " not ready";
      // Pad by what is seen, not by bytes: the marks are multi-byte and maybe coloured.
      const size_t shown = status.find("terminating") != std::string::npos ? 13
                           : ready                                      ? 7
                                                                        : 11;
      out += fmt::format("{} \u25a1 {:<38} {}{} {:>5}  {}\n", branch, str(i, "id"), status,
                         std::string(shown < 14 ? 14 - shown : 0, ' '),
                         age_text(i.value("startedAt", json()), now), instance_info(i, now));
    }
    for (const auto& run : rev_runs) {
      const char* branch = ++n == total ? "\u2514\u2500\u2500" : "\u251c\u2500\u2500";
      int successful = 0, failed = 0, other = 0;
      for (const auto& m : run.value("metrics", json::array())) {
        for (const auto& x : m.value("measurements", json::array())) {
          const std::string phase = str(x, "phase");
          if (phase == "Successful")
            ++successful;
          else if (phase == "Failed")
            ++failed;
          else if (phase != "Running" && phase != "Pending")
            ++other;
        }
      }
      std::string counts = fmt::format("{} {} {} {}", ok, successful, bad, failed);
      if (other > 0) counts += fmt::format(" \u26a0 {}", other);
      out += fmt::format("{} \u03b1 {:<38} {:<14} {:>5}  {}\n", branch, str(run, "name"),
                         str(run, "phase"), "", counts);
    }
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
    std::string step = step_label(r);
    if (step.empty()) step = "-";
    std::string phase_cell = fmt::format("{:<12}", phase + (r.value("aborted", false) ? "!" : ""));
    out += fmt::format("{:<24} {} {:<10} {:<14} {:>5} {:>6}% {:<12} {:<9}\n", str(r, "name"),
                       paint(phase_cell, phase_color(phase), color),
                       str(r.value("sync", json()), "status", "-"), str(r, "strategy"), step,
                       num(r.value("weights", json()), "canary"),
                       str(r.value("desired", json()), "version"), ready);
  }
  return out;
}

std::string render_rollout(const json& r, bool color, int64_t now) {
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
  // Numbered from 1 as people count; only an update in progress has a current step.
  const std::string label = step_label(r);
  const int current = label.empty() ? -1 : num(r, "currentStepIndex", -1);
  if (steps.is_array() && !steps.empty()) {
    if (!label.empty()) out += fmt::format("Step:      {}\n", label);
    out += "Steps:\n";
    for (size_t i = 0; i < steps.size(); ++i) {
      bool here = static_cast<int>(i) == current;
      std::string mark = here ? "->" : (static_cast<int>(i) < current ? " v" : "  ");
      std::string line = fmt::format("  {} {}. {}", mark, i + 1, step_text(steps[i]));
      out += (here ? paint(line, "\033[1m", color) : line) + "\n";
    }
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
  const json hooks = r.value("webhooks", json::array());
  if (hooks.is_array() && !hooks.empty()) {
    out += "Webhooks:\n";
    for (const auto& h : hooks) {
      const json gate = h.value("gate", json());
      std::string state = "-";
      if (gate.is_object()) {
        state = fmt::format("{} call(s), {} failed{}{}", gate.value("calls", 0),
                            gate.value("failed", 0), gate.value("pending", false) ? ", calling" : "",
                            gate.value("last", "").empty() ? "" : "; last: " + gate.value("last", ""));
      }
      out += fmt::format("  {:<20} {:<18} {}\n", str(h, "name"), str(h, "type"), state);
    }
    out += render_webhook_calls(r.value("webhookCalls", json::array()), "    ");
  }
  if (std::string tree = render_revision_tree(r, color, now); !tree.empty()) out += "\n" + tree;
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
