#include "tests/support/paths/paths.h"

namespace sluice::test {

const std::string& bin_dir() {
  static const std::string dir = SLUICE_BIN_DIR;
  return dir;
}

const std::string& source_dir() {
  static const std::string dir = SLUICE_SOURCE_DIR;
  return dir;
}

}  // namespace sluice::test
