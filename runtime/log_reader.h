// Reading the end of an instance's log without loading it all: the last bytes of "<log>.1"
// followed by "<log>" (log_rotation.h), bounded in bytes and optionally in lines.
//
// Thread-safe (reads files only); used from the API threads through Runtime::read_logs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::runtime {

struct LogTail {
  std::string text;
  bool truncated = false;  // older output exists that is not in text
  bool found = false;      // at least one of the files exists
  uint64_t end_offset = 0;  // the size of the newest existing file when it was read
};

// The end of the concatenation of files (oldest first; missing files are skipped): at most
// max_bytes, starting at a line boundary when it had to cut, and at most tail_lines lines
// (0 = no line limit).
LogTail read_log_tail(const std::vector<std::string>& files, size_t tail_lines, size_t max_bytes);

// What was appended to file after offset (a previous end_offset), at most max_bytes of it (the
// oldest part; the next read continues from the returned end_offset). A file now shorter than
// offset was rotated (copy-truncate): its whole content is new.
LogTail read_log_after(const std::string& file, uint64_t offset, size_t max_bytes);

}  // namespace sluice::runtime
