// A real process appends (with group commit, segment rolls and snapshots) and is SIGKILLed
// mid-stream; the parent then recovers and checks that every record the child reported durable
// is there, in order, intact.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "controller/journal.h"
#include "journal_test_support.h"

using namespace sluice;
using namespace sluice::controller;
using namespace sluice::journal_testing;

namespace {

JournalOptions crash_options(const std::string& dir) {
  JournalOptions options = options_for(dir);
  options.sync_every_records = 7;
  options.snapshot_every_records = 50;
  options.max_segment_bytes = 2000;
  options.write_buffer_bytes = 100;  // most appends reach the OS before their sync
  return options;
}

// The child: never returns. Reports each new synced_seq as 8 bytes on `report_fd`.
[[noreturn]] void append_until_killed(const std::string& dir, int report_fd) {
  SimulatedClock clock;
  auto journal = Journal::open(PosixFilesystem::instance(), clock, crash_options(dir));
  if (!journal.is_ok()) ::_exit(2);
  uint64_t reported = 0;
  for (uint64_t seq = 1; seq <= 200'000; ++seq) {  // bounded; the parent kills us long before
    if (!(*journal)->append(payload_for(seq)).is_ok()) ::_exit(3);
    if ((*journal)->snapshot_due() &&
        !(*journal)->write_snapshot(seq, "state@" + std::to_string(seq)).is_ok()) {
      ::_exit(4);
    }
    const uint64_t synced = (*journal)->synced_seq();
    if (synced != reported) {
      reported = synced;
      if (::write(report_fd, &synced, sizeof synced) != sizeof synced) ::_exit(5);
    }
  }
  ::_exit(0);
}

}  // namespace

TEST_CASE("a SIGKILLed appender loses nothing it reported durable", "[journal][crash]") {
  for (const uint64_t kill_after : {30u, 120u, 350u}) {
    INFO("killed after synced_seq >= " << kill_after);
    JournalTempDir dir;
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      append_until_killed(dir.path, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    uint64_t max_reported = 0;
    uint64_t value = 0;
    while (max_reported < kill_after && ::read(pipe_fds[0], &value, sizeof value) == sizeof value) {
      max_reported = std::max(max_reported, value);
    }
    ::kill(child, SIGKILL);
    int wstatus = 0;
    REQUIRE(::waitpid(child, &wstatus, 0) == child);
    REQUIRE(WIFSIGNALED(wstatus));  // it was still appending, not finished or failed
    // Reports written just before the kill are still in the pipe.
    while (::read(pipe_fds[0], &value, sizeof value) == sizeof value) {
      max_reported = std::max(max_reported, value);
    }
    ::close(pipe_fds[0]);
    REQUIRE(max_reported >= kill_after);

    SimulatedClock clock;
    auto journal = open_ok(PosixFilesystem::instance(), clock, crash_options(dir.path));
    Recovery recovery = journal->recover();
    uint64_t snapshot_seq = 0;
    if (recovery.snapshot) {
      snapshot_seq = recovery.snapshot->seq;
      CHECK(snapshot_seq % 50 == 0);
      CHECK(recovery.snapshot->payload == "state@" + std::to_string(snapshot_seq));
    }
    CHECK((kill_after < 50 || snapshot_seq > 0));
    const uint64_t last = recovery.tail.empty() ? snapshot_seq : recovery.tail.back().seq;
    CHECK(last >= max_reported);
    CHECK(seqs_of(recovery.tail) == range(snapshot_seq + 1, last));
    CHECK(payloads_match(recovery.tail));
    CHECK(journal->last_seq() == last);
    auto next = journal->append("after the crash");
    REQUIRE(next.is_ok());
    CHECK(*next == last + 1);
  }
}
