#include "runtime/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace sluice::runtime {
namespace {

// The last `budget` bytes of one file (all of it when smaller); `whole` says whether they are.
std::string read_end(const std::string& path, size_t budget, bool& exists, bool& whole,
                     uint64_t& size_read) {
  exists = false;
  whole = true;
  size_read = 0;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  exists = true;
  std::string out;
  struct stat st {};
  if (fstat(fd, &st) == 0) {
    const auto size = static_cast<size_t>(st.st_size);
    size_read = size;
    const size_t want = std::min(size, budget);
    whole = want == size;
    out.resize(want);
    size_t got = 0;
    // The file may shrink under us (rotation truncates it): stop at the first short read.
    while (got < want) {
      const ssize_t n = pread(fd, out.data() + got, want - got,
                              static_cast<off_t>(size - want + got));
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
  }
  close(fd);
  return out;
}

}  // namespace

LogTail read_log_tail(const std::vector<std::string>& files, size_t tail_lines, size_t max_bytes) {
  LogTail tail;
  // Newest file first, so the budget goes to the most recent output.
  std::vector<std::string> parts;
  size_t budget = max_bytes;
  bool cut = false;
  bool newest = true;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    if (budget == 0) {
      if (access(it->c_str(), F_OK) == 0) {
        tail.found = true;
        cut = true;
      }
      continue;
    }
    bool exists = false, whole = true;
    uint64_t size = 0;
    std::string text = read_end(*it, budget, exists, whole, size);
    if (!exists) continue;
    tail.found = true;
    if (newest) tail.end_offset = size;
    newest = false;
    budget -= std::min(budget, text.size());
    if (!whole) cut = true;
    parts.push_back(std::move(text));
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) tail.text += *it;
  if (cut) {
    // Drop the partial first line.
    const size_t newline = tail.text.find('\n');
    tail.text.erase(0, newline == std::string::npos ? tail.text.size() : newline + 1);
  }
  if (tail_lines > 0) {
    // Count lines from the end; a final line without '\n' counts as one.
    size_t lines = 0;
    size_t pos = tail.text.size();
    if (pos > 0 && tail.text[pos - 1] == '\n') --pos;
    while (pos > 0) {
      const size_t newline = tail.text.rfind('\n', pos - 1);
      ++lines;
      if (newline == std::string::npos) {
        pos = 0;
        break;
      }
      if (lines == tail_lines) {
        tail.text.erase(0, newline + 1);
        cut = true;
        break;
      }
      pos = newline;
    }
  }
  tail.truncated = cut;
  return tail;
}

LogTail read_log_after(const std::string& file, uint64_t offset, size_t max_bytes) {
  LogTail out;
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  out.found = true;
  struct stat st {};
  if (fstat(fd, &st) == 0) {
    const auto size = static_cast<uint64_t>(st.st_size);
    const uint64_t from = size < offset ? 0 : offset;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(size - from, max_bytes));
    out.text.resize(want);
    size_t got = 0;
    while (got < want) {
      const ssize_t n =
          pread(fd, out.text.data() + got, want - got, static_cast<off_t>(from + got));
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.text.resize(got);
    out.end_offset = from + got;
    out.truncated = from + got < size;
  }
  close(fd);
  return out;
}

}  // namespace sluice::runtime
