// A relative command runs from the revision's checkout and may not leave it (issue 19,
// "Security"): not through $(VAR) expansion, not through a chain of symlinks that each look
// harmless, and not from an exec probe. Absolute commands are the operator's explicit choice.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "tests/integration/runtime/runtime_fixture.h"

using namespace sluice;
using namespace sluice::runtime;
using namespace sluice::runtime::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A program that leaves a marker file (its first argument) and then stays up.
void write_marker_program(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "#!/bin/sh\ntouch \"$1\"\nexec sleep 30\n";
  ::chmod(path.c_str(), 0755);
}

}  // namespace

TEST_CASE("a relative command that resolves outside the checkout is refused at spawn") {
  RuntimeFixture f;
  const fs::path root = f.dir.path();
  const fs::path checkout = f.checkout_dir;
  write_marker_program(root / "outside/run.sh");
  write_marker_program(checkout / "bin/run.sh");
  // sub/up -> .. stays in the checkout, and so does sub/l1 -> up/.. when read lexically; the
  // kernel follows up first, so sub/l1 is the checkout's parent.
  fs::create_directories(checkout / "sub");
  fs::create_directory_symlink("..", checkout / "sub/up");
  fs::create_directory_symlink("up/..", checkout / "sub/l1");
  REQUIRE(fs::equivalent(checkout / "sub/l1", root));

  struct Case {
    std::string name;
    std::vector<std::string> command;
    std::vector<manifests::EnvVar> env;
    bool runs;
  };
  const std::vector<Case> cases = {
      {"expanded", {"$(P)", (root / "ran-expanded").string()}, {{"P", "../outside/run.sh"}}, false},
      {"nested", {"$(P)", (root / "ran-nested").string()},
       {{"UP", ".."}, {"P", "bin/$(UP)/$(UP)/outside/run.sh"}}, false},
      {"symlinks", {"sub/l1/outside/run.sh", (root / "ran-symlinks").string()}, {}, false},
      {"inside", {"./bin/run.sh", (root / "ran-inside").string()}, {}, true},
      {"inside-expanded", {"$(P)", (root / "ran-inside-expanded").string()},
       {{"P", "sub/up/bin/run.sh"}}, true},
  };
  for (const auto& c : cases) {
    RevisionSpec spec = f.spec({}, c.name);
    spec.pod.command = c.command;
    spec.pod.env = c.env;
    f.rt->scale(spec, 1);
  }
  REQUIRE(f.wait_for([&] {
    for (const auto& c : cases) {
      auto inst = f.only(c.name);
      if (!inst || (c.runs ? inst->pid <= 0 || !fs::exists(root / ("ran-" + c.name))
                           : inst->last_error.empty()))
        return false;
    }
    return true;
  }));
  for (const auto& c : cases) {
    INFO(c.name);
    auto inst = f.only(c.name);
    REQUIRE(inst);
    if (c.runs) {
      CHECK(inst->pid > 0);
      CHECK(fs::exists(root / ("ran-" + c.name)));
    } else {
      CHECK(inst->pid == 0);
      CHECK_FALSE(fs::exists(root / ("ran-" + c.name)));
      CHECK(inst->last_error.find("outside the checkout") != std::string::npos);
    }
  }
  // The refused ones keep failing through the back-off: still nothing ran.
  f.run_for(500ms);
  for (const auto& c : cases)
    if (!c.runs) CHECK_FALSE(fs::exists(root / ("ran-" + c.name)));
}

TEST_CASE("an exec probe whose command resolves outside the checkout never runs") {
  RuntimeFixture f;
  const fs::path root = f.dir.path();
  const fs::path checkout = f.checkout_dir;
  write_marker_program(root / "outside/run.sh");
  fs::create_directories(checkout / "sub");
  fs::create_directory_symlink("..", checkout / "sub/up");
  fs::create_directory_symlink("up/..", checkout / "sub/l1");
  const fs::path marker = root / "ran-probe";

  RevisionSpec spec = f.spec({});
  manifests::Probe probe;
  probe.exec = manifests::ExecAction{{"sub/l1/outside/run.sh", marker.string()}};
  probe.period = Duration(50);
  probe.timeout = Duration(500);
  spec.pod.readiness_probe = probe;
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0;
  }));
  f.run_for(1000ms);
  CHECK_FALSE(fs::exists(marker));
  CHECK_FALSE(f.only()->ready);
}
