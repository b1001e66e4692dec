// The bearer token a RestClient sends: a fixed token, or a token file that is read again whenever
// it changes on disk (service account tokens rotate; the kubelet swaps the file atomically).
//
// Threads: token() may be called from several threads at once (one mutex; a stat(2) per call).
#pragma once

#include <sys/types.h>

#include <ctime>
#include <mutex>
#include <string>

#include "base/status.h"

namespace sluice::kube {

class TokenSource {
 public:
  // `token_file`, when not empty, wins over `fixed_token` as soon as it has been read (client-go's
  // rule); `fixed_token` is the fallback while the file cannot be read.
  TokenSource(std::string fixed_token, std::string token_file);

  // The token to send, "" for none. The file is read again when its identity, size or mtime
  // changed since the last read. A failed read keeps the last good token; it is an error only when
  // no token was ever known ("token file PATH: cannot read PATH: ...", never the token itself).
  Result<std::string> token();

 private:
  struct FileIdentity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    timespec mtime{};
    bool operator==(const FileIdentity& other) const;
  };

  const std::string fixed_token_;
  const std::string token_file_;
  std::mutex mu_;
  std::string file_token_;  // guarded by mu_: the last good contents of token_file_
  FileIdentity read_identity_;  // guarded by mu_: what file_token_ was read from
  bool have_read_ = false;      // guarded by mu_
};

}  // namespace sluice::kube
