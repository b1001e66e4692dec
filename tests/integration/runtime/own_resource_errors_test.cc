// Issue 19: a probe that fails because Sluice itself is out of descriptors is Sluice's failure,
// not the instance's. A real sluice-testsvc instance with liveness and readiness probes, and the
// test process (which is the runtime's process) with its descriptor table full.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

#include "tests/integration/runtime/runtime_fixture.h"

using namespace sluice;
using namespace sluice::runtime;
using namespace sluice::runtime::testing;
using namespace std::chrono_literals;

namespace {

// Lowers the soft RLIMIT_NOFILE to a few above the descriptors open now and opens /dev/null
// until EMFILE; undone (descriptors closed, limit restored) on destruction.
class DescriptorFlood {
 public:
  DescriptorFlood() {
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    size_t open_now = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
      ++open_now;
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(open_now + 8);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    for (int i = 0; i < 4096; ++i) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        full_ = errno == EMFILE;
        break;
      }
      fds_.push_back(fd);
    }
  }
  ~DescriptorFlood() {
    for (int fd : fds_) close(fd);
    setrlimit(RLIMIT_NOFILE, &saved_);
  }
  bool full() const { return full_; }

 private:
  rlimit saved_{};
  std::vector<int> fds_;
  bool full_ = false;
};

}  // namespace

TEST_CASE("probes that Sluice cannot make for lack of its own descriptors are counted as Sluice's "
          "errors and never restart or unready the instance") {
  RuntimeFixture f;
  RevisionSpec spec = f.spec({});
  spec.pod.liveness_probe = http_probe("/healthz", 50, 2);
  spec.pod.readiness_probe = http_probe("/healthz", 50, 2);
  spec.pod.termination_grace_period = Duration(300);
  f.rt->scale(spec, 1);
  REQUIRE(f.wait_for([&] {
    auto i = f.only();
    return i && i->pid > 0 && i->ready;
  }));
  const int pid = f.only()->pid;
  // UBSan (debug preset) checks a virtual call's dynamic type through a pipe the first time it
  // sees the type, which cannot work under the flood; the runtime's warning (spdlog + fmt, a
  // C string and three strings) is made of types seen here first.
  const std::string table = "descriptor table", limit = "RLIMIT_NOFILE", error = "EMFILE";
  spdlog::info("{}: filling the {} (lowered {}) up to {}", "own_resource_errors_test", table,
               limit, error);
  bool full = false;
  bool counted = false;
  {
    // No Catch assertion while the table is full: a failing one could not be reported.
    DescriptorFlood flood;
    full = flood.full();
    // Every probe attempt now fails with EMFILE: many times the failure threshold of 2.
    counted = full && f.wait_for(
                          [&] {
                            auto errors = f.rt->probe_errors();
                            auto it = errors.find({"svc", "EMFILE"});
                            return it != errors.end() && it->second >= 10;
                          },
                          5s);
    f.run_for(300ms);  // room for a wrong kill to be sent while the flood lasts
  }
  REQUIRE(full);
  CHECK(counted);
  // Descriptors are back: probes succeed again; a kill sent above would have ended the process.
  f.run_for(600ms);
  auto inst = f.only();
  REQUIRE(inst);
  CHECK(inst->pid == pid);
  CHECK(inst->restarts == 0);
  CHECK(inst->live);
  CHECK(inst->ready);
  CHECK_FALSE(inst->last_exit.has_value());
  // The instance's status carries the count, which the controller turns into an event.
  CHECK(inst->probe_resource_errors > 0);
  CHECK_THAT(inst->last_probe_resource_error, Catch::Contains("EMFILE"));
  const std::string metric = "sluice_probe_errors_total{rollout=\"svc\",reason=\"EMFILE\"} ";
  CHECK(f.rt->metrics_text().find(metric) != std::string::npos);
}
