// Test support for the journal tests: a Filesystem over the real one that injects faults and can
// simulate a power loss (LevelDB's FaultInjectionTestEnv, reduced to what the journal needs).
#pragma once

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "base/filesystem.h"

namespace sluice::journal_testing {

class FaultFilesystem final : public Filesystem {
 public:
  explicit FaultFilesystem(Filesystem& base = PosixFilesystem::instance()) : base_(base) {}

  // Faults, settable at any time.
  bool fail_sync = false;      // WritableFile::sync and sync_file fail with EIO
  bool fail_sync_dir = false;  // sync_dir fails with EIO
  bool fail_rename = false;    // rename fails with EIO (nothing renamed)
  // Bytes that writes may still put in files; -1 is unlimited. A write that does not fit writes
  // the part that fits and fails with ENOSPC, as a full disk does.
  int64_t write_budget = -1;

  int file_syncs = 0;  // successful file fsyncs
  int dir_syncs = 0;   // successful directory fsyncs

  // A power loss: every file written through this object loses the bytes past its last
  // successful fsync. (Directory entries are kept; the journal's own dir syncs are tested by
  // counting them.)
  void drop_unsynced_data() {
    for (const auto& [path, synced] : synced_size_) {
      std::error_code ec;
      if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > synced) {
        std::filesystem::resize_file(path, synced, ec);
      }
    }
  }

  Result<std::unique_ptr<WritableFile>> open_writable(const std::string& path,
                                                      OpenMode mode) override {
    auto file = base_.open_writable(path, mode);
    if (!file) return file.status();
    if (mode == OpenMode::kTruncate || !synced_size_.count(path)) {
      synced_size_[path] = mode == OpenMode::kTruncate ? 0 : size_or_zero(path);
    }
    return std::unique_ptr<WritableFile>(std::make_unique<File>(*this, std::move(*file)));
  }
  Result<std::string> read_file(const std::string& path) override { return base_.read_file(path); }
  Status rename(const std::string& from, const std::string& to) override {
    if (fail_rename) return errno_status("rename", from, EIO);
    Status s = base_.rename(from, to);
    if (s.is_ok() && synced_size_.count(from)) {
      synced_size_[to] = synced_size_[from];
      synced_size_.erase(from);
    }
    return s;
  }
  Status remove(const std::string& path) override { return base_.remove(path); }
  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    return base_.list_dir(dir);
  }
  bool exists(const std::string& path) override { return base_.exists(path); }
  Status mkdirs(const std::string& dir) override { return base_.mkdirs(dir); }
  Result<uint64_t> file_size(const std::string& path) override { return base_.file_size(path); }
  Status truncate(const std::string& path, uint64_t size) override {
    Status s = base_.truncate(path, size);
    if (s.is_ok() && synced_size_.count(path) && synced_size_[path] > size) {
      synced_size_[path] = size;
    }
    return s;
  }
  Status sync_file(const std::string& path) override {
    if (fail_sync) return errno_status("fsync", path, EIO);
    Status s = base_.sync_file(path);
    if (s.is_ok()) {
      synced_size_[path] = size_or_zero(path);
      ++file_syncs;
    }
    return s;
  }
  Status sync_dir(const std::string& dir) override {
    if (fail_sync_dir) return errno_status("fsync directory", dir, EIO);
    Status s = base_.sync_dir(dir);
    if (s.is_ok()) ++dir_syncs;
    return s;
  }

 private:
  class File final : public WritableFile {
   public:
    File(FaultFilesystem& fs, std::unique_ptr<WritableFile> base)
        : fs_(fs), base_(std::move(base)) {}
    Status append(std::string_view data) override {
      if (fs_.write_budget >= 0 && static_cast<int64_t>(data.size()) > fs_.write_budget) {
        const auto fits = static_cast<size_t>(fs_.write_budget);
        fs_.write_budget = 0;
        if (Status s = base_->append(data.substr(0, fits)); !s) return s;
        return errno_status("write", path(), ENOSPC);
      }
      if (fs_.write_budget >= 0) fs_.write_budget -= static_cast<int64_t>(data.size());
      return base_->append(data);
    }
    Status sync() override {
      if (fs_.fail_sync) return errno_status("fsync", path(), EIO);
      Status s = base_->sync();
      if (s.is_ok()) {
        fs_.synced_size_[path()] = fs_.size_or_zero(path());
        ++fs_.file_syncs;
      }
      return s;
    }
    Status close() override { return base_->close(); }
    const std::string& path() const override { return base_->path(); }

   private:
    FaultFilesystem& fs_;
    std::unique_ptr<WritableFile> base_;
  };

  uint64_t size_or_zero(const std::string& path) {
    auto size = base_.file_size(path);
    return size ? *size : 0;
  }

  Filesystem& base_;
  std::map<std::string, uint64_t> synced_size_;
};

}  // namespace sluice::journal_testing
