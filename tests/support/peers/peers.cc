#include "tests/support/peers/peers.h"

#include <unistd.h>

#include <cstdlib>

namespace sluice::testing {

std::string peers_dir() {
  if (const char* dir = std::getenv("SLUICE_PEERS_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/root") + "/.cache/sluice/peers";
}

Result<std::string> peer_path(const std::string& relative) {
  const std::string root = peers_dir();
  std::string path = root + "/" + relative;
  // Symlinks are followed: a dangling link (a removed version) is as missing as no link.
  if (::access(path.c_str(), F_OK) != 0) {
    return failed_precondition("peer " + relative + " is missing from " + root +
                               ": run `make peers` (its logs are in " + root + "/logs)");
  }
  return path;
}

}  // namespace sluice::testing
