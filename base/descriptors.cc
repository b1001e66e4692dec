#include "base/descriptors.h"

#include <dirent.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

namespace sluice {
namespace {

std::mutex g_mu;
std::chrono::steady_clock::time_point g_counted_at{};
uint64_t g_counted = 0;
std::atomic<uint64_t> g_opened_since{0};

uint64_t count_open() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  uint64_t n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // the directory's own descriptor
}

}  // namespace

DescriptorLimit descriptor_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  return {static_cast<uint64_t>(rl.rlim_cur), static_cast<uint64_t>(rl.rlim_max)};
}

Result<DescriptorLimit> raise_descriptor_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return internal_error(std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0)
      return internal_error(std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  }
  return descriptor_limit();
}

uint64_t descriptors_free() {
  const uint64_t limit = descriptor_limit().soft;
  uint64_t open = 0;
  {
    std::lock_guard lock(g_mu);
    const auto now = std::chrono::steady_clock::now();
    if (now - g_counted_at > std::chrono::milliseconds(10)) {
      g_counted = count_open();
      g_counted_at = now;
      g_opened_since.store(0, std::memory_order_relaxed);
    }
    open = g_counted + g_opened_since.load(std::memory_order_relaxed);
  }
  return open >= limit ? 0 : limit - open;
}

void note_descriptor_opened() { g_opened_since.fetch_add(1, std::memory_order_relaxed); }

}  // namespace sluice
