#include "base/filesystem.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

using sluice::join_path;
using sluice::OpenMode;
using sluice::PosixFilesystem;
using sluice::StatusCode;

namespace {

// A fresh directory under TMPDIR, removed with its contents at scope exit.
struct FsTempDir {
  FsTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-fs-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~FsTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

}  // namespace

TEST_CASE("append, sync and read back a file", "[filesystem]") {
  FsTempDir dir;
  auto& fs = PosixFilesystem::instance();
  const std::string path = join_path(dir.path, "a.log");
  {
    auto file = fs.open_writable(path, OpenMode::kAppend);
    REQUIRE(file.is_ok());
    REQUIRE((*file)->append("hello ").is_ok());
    REQUIRE((*file)->sync().is_ok());
    REQUIRE((*file)->close().is_ok());
    // A closed file refuses further work instead of writing to a recycled descriptor.
    CHECK((*file)->append("x").code() == StatusCode::kInternal);
  }
  {
    auto file = fs.open_writable(path, OpenMode::kAppend);
    REQUIRE(file.is_ok());
    REQUIRE((*file)->append(std::string("world\0!", 7)).is_ok());
  }
  auto content = fs.read_file(path);
  REQUIRE(content.is_ok());
  CHECK(*content == std::string("hello world\0!", 13));
  CHECK(*fs.file_size(path) == 13);

  auto truncated = fs.open_writable(path, OpenMode::kTruncate);
  REQUIRE(truncated.is_ok());
  CHECK(*fs.file_size(path) == 0);
}

TEST_CASE("truncate, rename, remove, list and exists", "[filesystem]") {
  FsTempDir dir;
  auto& fs = PosixFilesystem::instance();
  const std::string a = join_path(dir.path, "a");
  const std::string b = join_path(dir.path, "b");
  {
    auto file = fs.open_writable(a, OpenMode::kTruncate);
    REQUIRE(file.is_ok());
    REQUIRE((*file)->append("0123456789").is_ok());
  }
  REQUIRE(fs.truncate(a, 4).is_ok());
  REQUIRE(fs.sync_file(a).is_ok());
  CHECK(*fs.read_file(a) == "0123");

  REQUIRE(fs.rename(a, b).is_ok());
  CHECK_FALSE(fs.exists(a));
  CHECK(fs.exists(b));
  REQUIRE(fs.sync_dir(dir.path).is_ok());

  REQUIRE(fs.mkdirs(join_path(dir.path, "x/y/z")).is_ok());
  REQUIRE(fs.mkdirs(join_path(dir.path, "x/y/z")).is_ok());  // idempotent
  auto names = fs.list_dir(dir.path);
  REQUIRE(names.is_ok());
  CHECK(*names == std::vector<std::string>{"b", "x"});

  REQUIRE(fs.remove(b).is_ok());
  CHECK_FALSE(fs.exists(b));
}

TEST_CASE("errors carry the operation, the path and the errno text", "[filesystem]") {
  FsTempDir dir;
  auto& fs = PosixFilesystem::instance();
  const std::string missing = join_path(dir.path, "missing");

  auto read = fs.read_file(missing);
  REQUIRE_FALSE(read.is_ok());
  CHECK(read.status().code() == StatusCode::kNotFound);
  CHECK(read.status().message() == "open " + missing + ": No such file or directory");

  CHECK(fs.remove(missing).code() == StatusCode::kNotFound);
  CHECK(fs.rename(missing, join_path(dir.path, "other")).code() == StatusCode::kNotFound);
  CHECK(fs.file_size(missing).status().code() == StatusCode::kNotFound);
  CHECK(fs.list_dir(missing).status().code() == StatusCode::kNotFound);
  CHECK(fs.sync_dir(missing).code() == StatusCode::kNotFound);

  // A path component that is a file, not a directory.
  {
    auto file = fs.open_writable(join_path(dir.path, "plain"), OpenMode::kTruncate);
    REQUIRE(file.is_ok());
  }
  const sluice::Status mk = fs.mkdirs(join_path(dir.path, "plain/sub"));
  CHECK_FALSE(mk.is_ok());
  CHECK(mk.message().find("plain") != std::string::npos);

  if (::geteuid() != 0) {  // root ignores permission bits
    const std::string ro = join_path(dir.path, "ro");
    REQUIRE(fs.mkdirs(ro).is_ok());
    REQUIRE(::chmod(ro.c_str(), 0500) == 0);
    auto denied = fs.open_writable(join_path(ro, "f"), OpenMode::kAppend);
    CHECK(denied.status().code() == StatusCode::kPermissionDenied);
    REQUIRE(::chmod(ro.c_str(), 0700) == 0);
  }
}

TEST_CASE("join_path puts exactly one slash between parts", "[filesystem]") {
  CHECK(join_path("/a/b", "c") == "/a/b/c");
  CHECK(join_path("/a/b/", "c") == "/a/b/c");
  CHECK(join_path("/a/b//", "/c") == "/a/b/c");
  CHECK(join_path("/", "c") == "/c");
  CHECK(join_path("", "c") == "c");
}
