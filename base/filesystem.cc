#include "base/filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace sluice {

Status errno_status(std::string_view op, std::string_view path, int err) {
  std::string message =
      std::string(op) + " " + std::string(path) + ": " + std::system_category().message(err);
  switch (err) {
    case ENOENT:
      return {StatusCode::kNotFound, std::move(message)};
    case EACCES:
    case EPERM:
      return {StatusCode::kPermissionDenied, std::move(message)};
    case EEXIST:
      return {StatusCode::kAlreadyExists, std::move(message)};
    default:
      return {StatusCode::kInternal, std::move(message)};
  }
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (!out.empty() && out.back() != '/') out.push_back('/');
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  out.append(name);
  return out;
}

namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(std::string_view data) override {
    if (fd_ < 0) return errno_status("write", path_, EBADF);
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::ok();
  }

  Status sync() override {
    if (fd_ < 0) return errno_status("fsync", path_, EBADF);
    if (::fdatasync(fd_) != 0) return errno_status("fsync", path_, errno);
    return Status::ok();
  }

  Status close() override {
    if (fd_ < 0) return errno_status("close", path_, EBADF);
    const int rc = ::close(fd_);
    fd_ = -1;
    // After close(2) fails the descriptor is gone anyway (Linux); report, never retry.
    if (rc != 0) return errno_status("close", path_, errno);
    return Status::ok();
  }

  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
};

Status fsync_path(const std::string& path, int flags, const char* op) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno_status(op, path, errno);
  Status status = ::fsync(fd) == 0 ? Status::ok() : errno_status(op, path, errno);
  ::close(fd);
  return status;
}

}  // namespace

PosixFilesystem& PosixFilesystem::instance() {
  static PosixFilesystem fs;
  return fs;
}

Result<std::unique_ptr<WritableFile>> PosixFilesystem::open_writable(const std::string& path,
                                                                     OpenMode mode) {
  const int flags =
      O_WRONLY | O_CREAT | O_CLOEXEC | (mode == OpenMode::kAppend ? O_APPEND : O_TRUNC);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return errno_status("open", path, errno);
  return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(path, fd));
}

Result<std::string> PosixFilesystem::read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path, errno);
  // Read straight into the string, sized from fstat and grown if the file grows meanwhile.
  struct stat st {};
  size_t capacity = 1 << 16;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) capacity = static_cast<size_t>(st.st_size) + 1;
  std::string out(capacity, '\0');
  size_t filled = 0;
  for (;;) {
    if (filled == out.size()) out.resize(out.size() * 2);
    const ssize_t n = ::read(fd, out.data() + filled, out.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return errno_status("read", path, err);
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  out.resize(filled);
  ::close(fd);
  return out;
}

Status PosixFilesystem::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return errno_status("rename", from + " -> " + to, errno);
  }
  return Status::ok();
}

Status PosixFilesystem::remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return errno_status("remove", path, errno);
  return Status::ok();
}

Result<std::vector<std::string>> PosixFilesystem::list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno_status("list", dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return errno_status("list", dir, err);
  std::sort(names.begin(), names.end());
  return names;
}

bool PosixFilesystem::exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Status PosixFilesystem::mkdirs(const std::string& dir) {
  if (dir.empty()) return invalid_argument("mkdirs: empty path");
  // Create each missing prefix in turn; EEXIST on a directory is success.
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) == 0) continue;
    const int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    return errno_status("mkdir", prefix, err == EEXIST ? ENOTDIR : err);
  }
  return Status::ok();
}

Result<uint64_t> PosixFilesystem::file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_status("stat", path, errno);
  return static_cast<uint64_t>(st.st_size);
}

Status PosixFilesystem::truncate(const std::string& path, uint64_t size) {
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
    return errno_status("truncate", path, errno);
  }
  return Status::ok();
}

Status PosixFilesystem::sync_file(const std::string& path) {
  return fsync_path(path, O_RDONLY, "fsync");
}

Status PosixFilesystem::sync_dir(const std::string& dir) {
  return fsync_path(dir, O_RDONLY | O_DIRECTORY, "fsync directory");
}

Result<std::string> resolve_inside(const std::string& root, const std::string& base,
                                   const std::string& path, std::string_view root_label) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return invalid_argument(std::string(root_label) + " " + root + ": " + ec.message());
  fs::path p(path);
  if (p.is_relative()) p = fs::path(base) / p;
  const fs::path real = fs::weakly_canonical(p, ec);
  if (ec) return invalid_argument(path + ": " + ec.message());
  auto [root_end, real_it] =
      std::mismatch(real_root.begin(), real_root.end(), real.begin(), real.end());
  if (root_end != real_root.end()) {
    return invalid_argument("resolves to " + real.string() + ", outside " +
                            std::string(root_label) + " " + real_root.string());
  }
  return real.string();
}

}  // namespace sluice
