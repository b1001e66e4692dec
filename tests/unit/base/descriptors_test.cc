// `sluice serve` raises the soft descriptor limit to the hard one (issue 19).
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include "base/descriptors.h"

using namespace sluice;

TEST_CASE("raise_descriptor_limit lifts the soft RLIMIT_NOFILE to the hard limit",
          "[base][descriptors]") {
  rlimit original{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
  REQUIRE(original.rlim_max > 256);
  rlimit lowered = original;
  lowered.rlim_cur = 256;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  auto raised = raise_descriptor_limit();
  REQUIRE(raised.is_ok());
  CHECK(raised->soft == original.rlim_max);
  CHECK(descriptor_limit().soft == original.rlim_max);
  CHECK(descriptors_free() > 256);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &original) == 0);
}
