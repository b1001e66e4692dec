#pragma once

#include <string>

namespace sluice::test {

// The build's bin/ directory (sluice, the example services, the test services).
const std::string& bin_dir();
// The root of the source checkout.
const std::string& source_dir();

}  // namespace sluice::test
