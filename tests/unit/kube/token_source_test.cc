// TokenSource: a fixed token, and a token file read again when it changes (rotation).
#include "kube/token_source.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>

#include "kube_test_util.h"

using sluice::kube::TokenSource;
using sluice::kube::testing::TempDir;

namespace {

// Sets the file's mtime to `seconds` after the epoch, so that a change is visible even when a
// rewrite lands in the same clock tick.
void set_mtime(const std::string& path, time_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

}  // namespace

TEST_CASE("a fixed token is returned as is", "[token_source]") {
  TokenSource tokens("fixed", "");
  CHECK(*tokens.token() == "fixed");
  TokenSource none("", "");
  CHECK(none.token()->empty());
}

TEST_CASE("a token file wins over the fixed token and is re-read when it changes",
          "[token_source]") {
  TempDir dir;
  const std::string path = dir.write("token", "first-token\n");
  set_mtime(path, 1'000'000);
  TokenSource tokens("fixed", path);
  CHECK(*tokens.token() == "first-token");

  // Same size, new contents: only the mtime tells.
  dir.write("token", "secnd-token\n");
  set_mtime(path, 1'000'001);
  CHECK(*tokens.token() == "secnd-token");

  // The kubelet's way: a new file renamed over the old one (a new inode).
  const std::string next = dir.write("token.new", "third-token\n");
  REQUIRE(std::rename(next.c_str(), path.c_str()) == 0);
  CHECK(*tokens.token() == "third-token");

  // Gone or garbage: the last good token is kept.
  std::filesystem::remove(path);
  CHECK(*tokens.token() == "third-token");
  dir.write("token", "   \n");
  CHECK(*tokens.token() == "third-token");
  dir.write("token", "fourth-token");
  CHECK(*tokens.token() == "fourth-token");
}

TEST_CASE("an unreadable token file with nothing to fall back on is an error", "[token_source]") {
  TempDir dir;
  TokenSource tokens("", dir.path + "/absent");
  auto token = tokens.token();
  REQUIRE_FALSE(token.is_ok());
  CHECK(token.status().message() == "token file " + dir.path + "/absent: cannot read " + dir.path +
                                        "/absent: No such file or directory");
  // The fixed token is the fallback until the file can be read.
  TokenSource with_fallback("fixed", dir.path + "/absent");
  CHECK(*with_fallback.token() == "fixed");
  dir.write("absent", "from-file");
  CHECK(*with_fallback.token() == "from-file");
}
