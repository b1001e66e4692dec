#include "runtime/proc.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace sluice::runtime {

std::optional<ProcStat> read_proc_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  // comm (field 2) is in parentheses and may contain anything; fields resume after the last ')'.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::vector<std::string> rest;
  std::string field;
  while (fields >> field) rest.push_back(field);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  if (rest.size() < 20) return std::nullopt;
  ProcStat stat;
  stat.state = rest[0].empty() ? '?' : rest[0][0];
  try {
    stat.pgid = static_cast<pid_t>(std::stol(rest[5 - 3]));
    stat.start_ticks = std::stoull(rest[22 - 3]);
  } catch (...) {
    return std::nullopt;
  }
  return stat;
}

bool is_same_live_process(pid_t pid, uint64_t start_ticks) {
  if (pid <= 0) return false;
  const auto stat = read_proc_stat(pid);
  return stat && stat->state != 'Z' && stat->state != 'X' && stat->start_ticks == start_ticks;
}

}  // namespace sluice::runtime
