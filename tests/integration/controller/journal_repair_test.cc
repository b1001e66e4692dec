// The journal's corruption error names a recovery command; this runs that exact command with the
// real `sluice` binary on a real journal on disk, and checks that the journal opens afterwards
// with exactly the records before the corrupt one.
#include <catch2/catch.hpp>
#include "tests/support/paths/paths.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/filesystem.h"
#include "base/state_dir_lock.h"
#include "controller/journal.h"
#include "controller/journal_format.h"

using namespace sluice;
using namespace sluice::controller;
using nlohmann::json;

extern char** environ;

namespace {

struct TempDir {
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-repair-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

struct Run {
  int exit_code = -1;
  std::string out;
};

// Runs argv (no shell), capturing stdout; bounded by the child exiting (it does no waiting).
Run run(const std::vector<std::string>& argv) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  REQUIRE(spawned == 0);
  Run r;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    r.out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string record_payload(uint64_t seq) {
  return json({{"v", 1},
               {"event", {{"id", seq}, {"reason", "StepAdvanced"}, {"rollout", "orders-api"}}},
               {"state", {{"name", "orders-api"}, {"seq", seq}}}})
      .dump();
}

JournalOptions options_for(const std::string& state_dir) {
  JournalOptions o;
  o.dir = state_dir + "/journal";
  o.repair_state_dir = state_dir;  // as `sluice serve` opens it
  return o;
}

// The argv of the "sluice journal repair ..." command inside an error message.
std::vector<std::string> command_in(const std::string& message) {
  const auto at = message.find("sluice journal repair ");
  REQUIRE(at != std::string::npos);
  std::istringstream words(message.substr(at));
  std::vector<std::string> argv;
  for (std::string w; argv.size() < 9 && words >> w;) argv.push_back(w);
  REQUIRE(argv.size() == 9);  // sluice journal repair --state-dir D --segment S --truncate-at N
  argv[0] = sluice::test::bin_dir() + "/sluice";
  return argv;
}

}  // namespace

TEST_CASE("sluice journal repair: the command a corrupt journal names makes it open again",
          "[journal][cli]") {
  TempDir state;
  auto& fs = PosixFilesystem::instance();
  SimulatedClock clock;
  constexpr uint64_t kRecords = 12;
  constexpr uint64_t kCorrupt = 7;
  {
    auto journal = Journal::open(fs, clock, options_for(state.path));
    REQUIRE(journal.is_ok());
    for (uint64_t seq = 1; seq <= kRecords; ++seq) {
      REQUIRE((*journal)->append(record_payload(seq)).is_ok());
    }
    REQUIRE((*journal)->sync().is_ok());
  }
  const std::string segment = journal_format::segment_name(1);
  const std::string segment_path = state.path + "/journal/" + segment;
  uint64_t corrupt_offset = 0;
  for (uint64_t seq = 1; seq < kCorrupt; ++seq) {
    corrupt_offset += kJournalRecordHeaderBytes + record_payload(seq).size();
  }
  std::string bytes = *fs.read_file(segment_path);
  bytes[corrupt_offset + kJournalRecordHeaderBytes + 3] ^= 0x20;  // inside record 7's payload
  { std::ofstream(segment_path, std::ios::binary | std::ios::trunc) << bytes; }

  // The controller refuses to start and names the offset and the command.
  auto refused = Journal::open(fs, clock, options_for(state.path));
  REQUIRE_FALSE(refused.is_ok());
  CHECK(refused.status().code() == StatusCode::kDataLoss);
  std::vector<std::string> repair = command_in(refused.status().message());
  CHECK(repair[4] == state.path);
  CHECK(repair[6] == segment);
  CHECK(repair[8] == std::to_string(corrupt_offset));
  repair.insert(repair.end(), {"-o", "json"});

  SECTION("refused while another process holds the state dir; nothing changes") {
    auto lock = StateDirLock::acquire(state.path);
    REQUIRE(lock.is_ok());
    const Run held = run(repair);
    CHECK(held.exit_code == 3);
    CHECK(json::parse(held.out)["repaired"] == false);
    CHECK(*fs.read_file(segment_path) == bytes);
  }

  SECTION("bad arguments change nothing") {
    std::vector<std::string> past_end = repair;
    past_end[8] = std::to_string(bytes.size() + 1);
    CHECK(run(past_end).exit_code == 3);
    std::vector<std::string> no_segment = repair;
    no_segment[6] = "journal-x.log";
    CHECK(run(no_segment).exit_code == 3);
    CHECK(*fs.read_file(segment_path) == bytes);
  }

  SECTION("the repair cuts there, and the journal opens with the records before it") {
    const Run repaired = run(repair);
    REQUIRE(repaired.exit_code == 0);
    const json out = json::parse(repaired.out);
    CHECK(out["repaired"] == true);
    CHECK(out["bytesDropped"] == bytes.size() - corrupt_offset);
    CHECK(out["lastRecord"] == kCorrupt - 1);

    auto journal = Journal::open(fs, clock, options_for(state.path));
    REQUIRE(journal.is_ok());
    Recovery recovery = (*journal)->recover();
    REQUIRE(recovery.tail.size() == kCorrupt - 1);
    for (uint64_t i = 0; i < recovery.tail.size(); ++i) {
      CHECK(recovery.tail[i].seq == i + 1);
      CHECK(recovery.tail[i].payload == record_payload(i + 1));
    }
    CHECK(*(*journal)->append(record_payload(kCorrupt)) == kCorrupt);
  }
}
