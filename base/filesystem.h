// Files come in through Filesystem (CONVENTIONS.md, pattern 2), so that tests can inject faults
// (failed writes, failed fsyncs, lost unsynced data) under code that must persist like a database.
//
// Every failure is a Status whose message names the operation, the path and the errno text, e.g.
// "fsync /var/lib/sluice/journal-00000000000000000001.log: Input/output error". ENOENT maps to
// kNotFound, EACCES/EPERM to kPermissionDenied, EEXIST to kAlreadyExists, anything else to
// kInternal.
//
// Threads: a Filesystem may be used from several threads at once (PosixFilesystem keeps no
// state). A WritableFile belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sluice {

// An open file that is only ever appended to. Bytes given to append() reach the OS (page cache)
// before it returns; only sync() makes them durable across a power loss.
class WritableFile {
 public:
  virtual ~WritableFile() = default;  // closes; errors on close are ignored (call close() to see)

  // Writes all of data at the end of the file (retrying short writes and EINTR). On error, a
  // prefix of data may have been written.
  virtual Status append(std::string_view data) = 0;
  // fdatasync: data and the metadata needed to read it back (file size) are durable when OK.
  virtual Status sync() = 0;
  // Closes the descriptor. Further calls on this object fail.
  virtual Status close() = 0;
  virtual const std::string& path() const = 0;
};

enum class OpenMode {
  kAppend,    // create if missing, keep existing contents, write at the end
  kTruncate,  // create if missing, discard existing contents
};

class Filesystem {
 public:
  virtual ~Filesystem() = default;

  virtual Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path,
                                                              OpenMode mode) = 0;
  // The whole file, as bytes.
  virtual Result<std::string> read_file(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)). Durable only after sync_dir() of the
  // directory holding both.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Removes a file (not a directory). Removing a missing file is kNotFound.
  virtual Status remove(const std::string& path) = 0;
  // Entry names (not paths) in dir, without "." and "..", sorted by name.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;
  virtual bool exists(const std::string& path) = 0;
  // mkdir -p; succeeds when the directory already exists.
  virtual Status mkdirs(const std::string& dir) = 0;
  virtual Result<uint64_t> file_size(const std::string& path) = 0;
  // Cuts (or extends with zeros) the file to size bytes. Not durable until the file is synced;
  // sync_file() does that for a path without an open WritableFile.
  virtual Status truncate(const std::string& path, uint64_t size) = 0;
  // fsync of a file by path (opens, fsyncs, closes).
  virtual Status sync_file(const std::string& path) = 0;
  // fsync of a directory, which makes creations, renames and removals inside it durable.
  virtual Status sync_dir(const std::string& dir) = 0;
};

// The real thing, on POSIX calls. Stateless.
class PosixFilesystem final : public Filesystem {
 public:
  static PosixFilesystem& instance();

  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path,
                                                      OpenMode mode) override;
  Result<std::string> read_file(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  bool exists(const std::string& path) override;
  Status mkdirs(const std::string& dir) override;
  Result<uint64_t> file_size(const std::string& path) override;
  Status truncate(const std::string& path, uint64_t size) override;
  Status sync_file(const std::string& path) override;
  Status sync_dir(const std::string& dir) override;
};

// "op path: strerror(err)" with the StatusCode that matches err.
Status errno_status(std::string_view op, std::string_view path, int err);

// Joins a directory and a name with exactly one '/'.
std::string join_path(std::string_view dir, std::string_view name);

// Where `path` really is, when that is inside `root`: `path` is taken relative to `base` unless
// absolute, and every symlink of its existing part is followed (weakly_canonical), as are those
// of `root`; the result is checked component by component, so "/a/bc" is not inside "/a/b".
// kInvalidArgument "resolves to <where>, outside <root_label> <root>" otherwise (the caller
// names `path`); an error naming the path when resolution fails (a loop, a missing root).
// Reads the filesystem without the Filesystem seam: it answers what the kernel will do with the
// path a moment later.
Result<std::string> resolve_inside(const std::string& root, const std::string& base,
                                   const std::string& path, std::string_view root_label);

}  // namespace sluice
