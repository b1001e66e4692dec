#include "tests/support/peers/peers.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace sluice::testing {

std::string peers_dir() {
  if (const char* dir = std::getenv("SLUICE_PEERS_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  // As scripts/peers: $HOME, else the user's home from the password database.
  std::string home;
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    home = h;
  } else if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
    home = pw->pw_dir;
  }
  return home + "/.cache/sluice/peers";
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
