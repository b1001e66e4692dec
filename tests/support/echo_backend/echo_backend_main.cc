// echo_backend --version V [--threads N] [--delay-ms N] [--fail-every N]: runs an EchoBackend
// (see echo_backend.h for the behaviour flags) and prints its port on stdout, then serves until
// stdin closes (so a test that spawns it cannot leak it).
#include <cstdio>
#include <iostream>
#include <string>

#include "tests/support/echo_backend/echo_backend.h"

int main(int argc, char** argv) {
  std::string version = "v1";
  int threads = 1;
  sluice::testing::EchoBehaviour behaviour;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--version") version = argv[i + 1];
    if (flag == "--threads") threads = std::stoi(argv[i + 1]);
    if (flag == "--delay-ms") behaviour.delay_ms = std::stoi(argv[i + 1]);
    if (flag == "--fail-every") behaviour.fail_every = std::stoi(argv[i + 1]);
  }
  sluice::testing::EchoBackend backend(version, threads, behaviour);
  std::printf("%u\n", static_cast<unsigned>(backend.port()));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}
