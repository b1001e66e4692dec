// `sluice journal repair --state-dir DIR --segment journal-N.log --truncate-at OFFSET`: the
// recovery command that a corrupt journal's error names (controller/journal.h, "Recovery").
//
// It takes the state dir's lock (so it refuses while `sluice serve` runs there), cuts the named
// segment at OFFSET and removes every later segment (Journal::truncate_at), then opens the
// journal the way `serve` does to prove that it now starts. Exit codes: 0 repaired and the
// journal opens, 3 anything else (bad arguments, lock held, I/O error, still corrupt).
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/state_dir_lock.h"
#include "cli/commands.h"
#include "controller/journal.h"

namespace sluice::cli {

namespace {

struct RepairOptions {
  std::string state_dir;
  std::string segment;
  uint64_t truncate_at = 0;
  std::string output = "table";
};

int fail(const RepairOptions& o, const std::string& message) {
  if (o.output == "json") {
    std::printf("%s\n", nlohmann::json({{"repaired", false}, {"error", message}}).dump(2).c_str());
  }
  std::fprintf(stderr, "sluice journal repair: %s\n", message.c_str());
  return 3;
}

int repair(const RepairOptions& o) {
  std::error_code ec;
  if (!std::filesystem::is_directory(o.state_dir, ec)) {
    return fail(o, "state dir " + o.state_dir + " does not exist");
  }
  // `serve` keeps its journal in STATE_DIR/journal; a bare journal directory (no such
  // subdirectory, as the journal names itself when it has no owner) is repaired in place.
  std::string journal_dir = o.state_dir + "/journal";
  if (!std::filesystem::is_directory(journal_dir, ec)) journal_dir = o.state_dir;
  auto lock = StateDirLock::acquire(o.state_dir);
  if (!lock.is_ok()) return fail(o, lock.status().message());

  Filesystem& fs = PosixFilesystem::instance();
  auto repaired = controller::Journal::truncate_at(fs, journal_dir, o.segment, o.truncate_at);
  if (!repaired.is_ok()) return fail(o, repaired.status().message());

  controller::JournalOptions jo;
  jo.dir = journal_dir;
  jo.repair_state_dir = o.state_dir;
  auto journal = controller::Journal::open(fs, SystemClock::instance(), jo);
  if (!journal.is_ok()) {
    return fail(o, "cut " + o.segment + " at byte " + std::to_string(o.truncate_at) +
                       ", but the journal still does not open: " + journal.status().message());
  }
  const controller::Recovery recovery = (*journal)->recover();
  const uint64_t last_seq = (*journal)->last_seq();
  if (o.output == "json") {
    nlohmann::json out = {{"repaired", true},
                          {"journalDir", journal_dir},
                          {"segment", o.segment},
                          {"truncatedAt", o.truncate_at},
                          {"bytesDropped", repaired->bytes_dropped},
                          {"removedSegments", repaired->removed_segments},
                          {"tornBytesDropped", recovery.report.torn_bytes_dropped},
                          {"lastRecord", last_seq}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("cut %s/%s at byte %llu: %llu byte(s) dropped", journal_dir.c_str(),
                o.segment.c_str(), static_cast<unsigned long long>(o.truncate_at),
                static_cast<unsigned long long>(repaired->bytes_dropped));
    for (const auto& s : repaired->removed_segments) std::printf(", removed %s", s.c_str());
    std::printf("\njournal opens: last record %llu; `sluice serve` can start again\n",
                static_cast<unsigned long long>(last_seq));
  }
  return 0;
}

}  // namespace

void register_journal_commands(CLI::App& app, CommandRegistry& registry) {
  auto* journal = app.add_subcommand("journal", "Maintain the controller's journal (offline)");
  journal->require_subcommand(1);
  auto o = std::make_shared<RepairOptions>();
  auto* cmd = journal->add_subcommand(
      "repair", "Cut a corrupt journal at the offset its error names (drops later records)");
  cmd->add_option("--state-dir", o->state_dir, "The state dir given to `sluice serve`")->required();
  cmd->add_option("--segment", o->segment,
                  "Segment file name, e.g. journal-00000000000000000001.log")
      ->required();
  cmd->add_option("--truncate-at", o->truncate_at, "Byte offset in the segment")->required();
  cmd->add_option("-o,--output", o->output, "Output format: table or json")
      ->check(CLI::IsMember({"table", "text", "json"}))
      ->capture_default_str();
  cmd->callback([o, &registry] { registry.set_exit_code(repair(*o)); });
}

}  // namespace sluice::cli
