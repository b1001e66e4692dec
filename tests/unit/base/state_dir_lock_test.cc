#include "base/state_dir_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

using sluice::StateDirLock;
using sluice::StatusCode;

namespace {

struct LockTempDir {
  LockTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-lock-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~LockTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

}  // namespace

TEST_CASE("a second holder in the same process is refused, naming our pid", "[state_dir_lock]") {
  LockTempDir dir;
  const std::string state = dir.path + "/state";  // created by acquire()
  auto first = StateDirLock::acquire(state);
  REQUIRE(first.is_ok());
  CHECK(first->path() == state + "/lock");

  auto second = StateDirLock::acquire(state);
  REQUIRE_FALSE(second.is_ok());
  CHECK(second.status().code() == StatusCode::kFailedPrecondition);
  CHECK(second.status().message().find("process " + std::to_string(::getpid())) !=
        std::string::npos);
  CHECK(second.status().message().find(state + "/lock") != std::string::npos);
}

TEST_CASE("the lock is free again after release and after a move", "[state_dir_lock]") {
  LockTempDir dir;
  {
    auto first = StateDirLock::acquire(dir.path);
    REQUIRE(first.is_ok());
    StateDirLock moved = std::move(*first);
    CHECK_FALSE(StateDirLock::acquire(dir.path).is_ok());
  }
  CHECK(StateDirLock::acquire(dir.path).is_ok());
}

TEST_CASE("a lock held by another process is refused, its death frees it", "[state_dir_lock]") {
  LockTempDir dir;
  int ready[2];
  int release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    ::close(release[1]);
    auto lock = StateDirLock::acquire(dir.path);
    const char ok = lock.is_ok() ? 'y' : 'n';
    (void)!::write(ready[1], &ok, 1);
    char c;
    (void)!::read(release[0], &c, 1);  // hold until the parent says so (or closes the pipe)
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char ok = 0;
  REQUIRE(::read(ready[0], &ok, 1) == 1);
  REQUIRE(ok == 'y');

  auto refused = StateDirLock::acquire(dir.path);
  REQUIRE_FALSE(refused.is_ok());
  CHECK(refused.status().code() == StatusCode::kFailedPrecondition);
  CHECK(refused.status().message().find("process " + std::to_string(child)) != std::string::npos);

  ::close(release[1]);
  int wstatus = 0;
  REQUIRE(::waitpid(child, &wstatus, 0) == child);
  ::close(ready[0]);
  CHECK(StateDirLock::acquire(dir.path).is_ok());
}
