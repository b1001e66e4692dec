#include "kube/token_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "kube/files.h"

namespace sluice::kube {

bool TokenSource::FileIdentity::operator==(const FileIdentity& other) const {
  return device == other.device && inode == other.inode && size == other.size &&
         mtime.tv_sec == other.mtime.tv_sec && mtime.tv_nsec == other.mtime.tv_nsec;
}

TokenSource::TokenSource(std::string fixed_token, std::string token_file)
    : fixed_token_(std::move(fixed_token)), token_file_(std::move(token_file)) {}

Result<std::string> TokenSource::token() {
  if (token_file_.empty()) return fixed_token_;
  std::lock_guard lock(mu_);
  const std::string fallback = have_read_ ? file_token_ : fixed_token_;
  struct stat st {};
  if (::stat(token_file_.c_str(), &st) != 0) {
    const int err = errno;
    if (!fallback.empty()) return fallback;
    return unavailable("token file " + token_file_ + ": cannot read " + token_file_ + ": " +
                       std::strerror(err));
  }
  FileIdentity now;
  now.device = st.st_dev;
  now.inode = st.st_ino;
  now.size = st.st_size;
  now.mtime = st.st_mtim;
  if (have_read_ && now == read_identity_) return file_token_;
  auto contents = read_credential_file(token_file_);
  if (!contents) {
    if (!fallback.empty()) return fallback;
    return Status(contents.status().code(),
                  "token file " + token_file_ + ": " + contents.status().message());
  }
  const std::string_view token = trim_space(*contents);
  if (!is_valid_token(token)) {
    // Half-written or garbage: keep what worked, and try again on the next change.
    if (!fallback.empty()) return fallback;
    return unavailable("token file " + token_file_ +
                       " is empty or holds whitespace or control characters");
  }
  file_token_ = std::string(token);
  read_identity_ = now;
  have_read_ = true;
  return file_token_;
}

}  // namespace sluice::kube
