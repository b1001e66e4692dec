#include "healthcheck/probe_target.h"

#include <cerrno>
#include <charconv>

#include <fmt/format.h>

namespace sluice::healthcheck {

Result<int> resolve_port(const manifests::PortRef& ref, const std::map<std::string, int>& ports) {
  if (auto it = ports.find(ref); it != ports.end()) {
    if (it->second <= 0)
      return failed_precondition(fmt::format("port \"{}\" is not allocated", ref));
    return it->second;
  }
  int number = 0;
  const char* end = ref.data() + ref.size();
  auto [ptr, ec] = std::from_chars(ref.data(), end, number);
  if (ref.empty() || ec != std::errc() || ptr != end || number <= 0 || number > 65535) {
    return invalid_argument(fmt::format("unknown port \"{}\"", ref));
  }
  return number;
}

std::string own_resource_error(int errno_value) {
  switch (errno_value) {
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
    case ENOMEM:
      return "ENOMEM";
    case ENOBUFS:
      return "ENOBUFS";
    case EAGAIN:
      return "EAGAIN";
    default:
      return "";
  }
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.substr(0, 4) == "127.";
}

}  // namespace sluice::healthcheck
