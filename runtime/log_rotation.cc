#include "runtime/log_rotation.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace sluice::runtime {
namespace {

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Status errno_status(const std::string& what) {
  return unavailable(fmt::format("{}: {}", what, strerror(errno)));
}

}  // namespace

Result<bool> rotate_log_if_needed(const std::string& path, size_t max_bytes) {
  Fd src(open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (src.fd < 0) return errno == ENOENT ? Result<bool>(false) : errno_status("open " + path);
  struct stat st {};
  if (fstat(src.fd, &st) != 0) return errno_status("stat " + path);
  const auto size = static_cast<size_t>(st.st_size);
  if (size <= max_bytes) return false;

  const std::string rotated = path + ".1";
  const std::string tmp = rotated + ".tmp";
  {
    Fd dst(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (dst.fd < 0) return errno_status("open " + tmp);
    off_t offset = static_cast<off_t>(size - std::min(size, max_bytes));
    std::vector<char> buf(64 * 1024);
    while (static_cast<size_t>(offset) < size) {
      const ssize_t n = pread(src.fd, buf.data(), buf.size(), offset);
      if (n < 0) return errno_status("read " + path);
      if (n == 0) break;
      if (write(dst.fd, buf.data(), static_cast<size_t>(n)) != n)
        return errno_status("write " + tmp);
      offset += n;
    }
  }
  if (rename(tmp.c_str(), rotated.c_str()) != 0) return errno_status("rename " + tmp);
  if (ftruncate(src.fd, 0) != 0) return errno_status("truncate " + path);
  return true;
}

}  // namespace sluice::runtime
