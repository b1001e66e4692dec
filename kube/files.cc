#include "kube/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::kube {

Result<std::string> read_credential_file(const std::string& path) {
  const auto fail = [&path](int err) {
    const StatusCode code = err == ENOENT                    ? StatusCode::kNotFound
                            : err == EACCES || err == EPERM ? StatusCode::kPermissionDenied
                                                            : StatusCode::kInvalidArgument;
    return Status(code, "cannot read " + path + ": " + std::strerror(err));
  };
  if (path.empty()) return invalid_argument("cannot read a file with an empty name");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errno);
  std::string out;
  char chunk[1 << 14];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return fail(err);
    }
    if (n == 0) break;
    out.append(chunk, static_cast<size_t>(n));
    if (out.size() > kMaxCredentialFileBytes) {
      ::close(fd);
      return invalid_argument("cannot read " + path + ": larger than 16 MiB");
    }
  }
  ::close(fd);
  return out;
}

std::string_view trim_space(std::string_view s) {
  const auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_valid_token(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

}  // namespace sluice::kube
