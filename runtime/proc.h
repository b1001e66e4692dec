// Reading /proc for adoption: a pid is only "ours" when the process start time (field 22 of
// /proc/<pid>/stat, in clock ticks since boot) matches the one recorded when we spawned it, which
// guards against pid reuse. Zombies count as dead.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace sluice::runtime {

struct ProcStat {
  char state = '?';          // R, S, D, Z, X, ...
  uint64_t start_ticks = 0;  // field 22
  pid_t pgid = 0;            // field 5
};

std::optional<ProcStat> read_proc_stat(pid_t pid);

// True when pid exists, is not a zombie, and started at start_ticks.
bool is_same_live_process(pid_t pid, uint64_t start_ticks);

}  // namespace sluice::runtime
