// Process metrics for /metrics in Prometheus text format, read from /proc/self:
// process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds.
// Thread-safe; a file that cannot be read leaves its metric out.
#pragma once

#include <string>

namespace sluice::api {

std::string process_metrics_text();

}  // namespace sluice::api
