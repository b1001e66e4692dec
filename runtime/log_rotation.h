// Size-bounded instance logs without a reader process.
//
// An instance's stdout and stderr are the log file itself, opened O_APPEND, so output keeps
// flowing while the controller is down (a pipe would die with its reader). The runtime checks
// the size periodically and rotates by copy-truncate, like logrotate's copytruncate: the last
// `max_bytes` of the file are copied to "<path>.1" (replacing it) and the file is truncated to
// zero; O_APPEND writers continue at the new end without noticing. Disk use per instance is
// therefore bounded by about 2 * max_bytes plus what the instance writes in one check interval.
// Output written between the copy and the truncate is lost (the known copytruncate trade-off).
#pragma once

#include <cstddef>
#include <string>

#include "base/status.h"

namespace sluice::runtime {

// Rotates `path` when it is larger than max_bytes. Returns whether it rotated.
Result<bool> rotate_log_if_needed(const std::string& path, size_t max_bytes);

}  // namespace sluice::runtime
