#include "api/process_metrics.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace sluice::api {

std::string process_metrics_text() {
  std::string out;
  long page = sysconf(_SC_PAGESIZE);
  long ticks = sysconf(_SC_CLK_TCK);
  if (std::ifstream statm("/proc/self/statm"); statm) {
    long size = 0, resident = 0;
    if (statm >> size >> resident) {
      out +=
          "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
          "# TYPE process_resident_memory_bytes gauge\n";
      out += fmt::format("process_resident_memory_bytes {}\n", resident * page);
    }
  }
  if (std::ifstream stat("/proc/self/stat"); stat && ticks > 0) {
    std::string line;
    std::getline(stat, line);
    // Fields after the command name (which may hold spaces) start after the last ')'.
    size_t close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest(line.substr(close + 2));
      std::string field;
      unsigned long long utime = 0, stime = 0;
      // state(3) ... utime is field 14, stime 15; we are positioned at field 3.
      for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
      }
      out +=
          "# HELP process_cpu_seconds_total Total user and system CPU time in seconds.\n"
          "# TYPE process_cpu_seconds_total counter\n";
      out += fmt::format("process_cpu_seconds_total {:.2f}\n",
                         static_cast<double>(utime + stime) / static_cast<double>(ticks));
    }
  }
  std::error_code ec;
  size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  if (!ec) {
    out +=
        "# HELP process_open_fds Number of open file descriptors.\n"
        "# TYPE process_open_fds gauge\n";
    out += fmt::format("process_open_fds {}\n", fds);
  }
  return out;
}

}  // namespace sluice::api
