// The process's file descriptor budget (issue 19): about 1,100 idle connections to a front door
// once exhausted Sluice's 1,024 descriptors, so its own probes failed and liveness killed every
// healthy instance. Two defences live here, shared by every module that accepts connections:
//  - raise_descriptor_limit(): `sluice serve` raises the soft RLIMIT_NOFILE to the hard limit at
//    start (descriptors are cheap; the default soft limit of 1,024 is a select(2)-era relic).
//  - descriptors_free(): how many more descriptors the process may open now; acceptors (the
//    router's front doors) stop accepting while fewer than their reserve are free, so probes,
//    the API and the journal always find one.
// Threads: all functions may be called from any thread.
#pragma once

#include <cstdint>

#include "base/status.h"

namespace sluice {

struct DescriptorLimit {
  uint64_t soft = 0;
  uint64_t hard = 0;
};

DescriptorLimit descriptor_limit();
// Raises the soft limit to the hard one; returns the limits after the change.
Result<DescriptorLimit> raise_descriptor_limit();

// soft limit - descriptors open now (counted in /proc/self/fd). The count is cached for 10 ms
// and corrected by note_descriptor_opened()/closed() in between, so a burst of accepts costs one
// directory scan.
uint64_t descriptors_free();
void note_descriptor_opened();

}  // namespace sluice
