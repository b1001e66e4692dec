#include "examples/loadtester/wrk_output.h"

#include <cstdio>
#include <sstream>

namespace sluice::examples {

std::optional<WrkReport> parse_wrk_output(const std::string& text) {
  WrkReport report;
  bool ran = false;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    long long a = 0, b = 0, c = 0, d = 0;
    double rate = 0;
    char unit[16] = {0};
    if (std::sscanf(line.c_str(), " %lld requests in %15s", &a, unit) == 2) {
      report.requests = a;
      ran = true;
    } else if (std::sscanf(line.c_str(), " Socket errors: connect %lld, read %lld, write %lld, "
                                         "timeout %lld",
                           &a, &b, &c, &d) == 4) {
      report.connect_errors = a;
      report.read_errors = b;
      report.write_errors = c;
      report.timeouts = d;
    } else if (std::sscanf(line.c_str(), " Non-2xx or 3xx responses: %lld", &a) == 1) {
      report.non_2xx_3xx = a;
    } else if (std::sscanf(line.c_str(), " Requests/sec: %lf", &rate) == 1) {
      report.requests_per_second = rate;
    }
  }
  if (!ran) return std::nullopt;
  return report;
}

std::string WrkReport::describe() const {
  std::ostringstream out;
  out << requests << " requests, " << non_2xx_3xx << " non-2xx/3xx responses, " << socket_errors()
      << " socket errors (connect " << connect_errors << ", read " << read_errors << ", write "
      << write_errors << ", timeout " << timeouts << ")";
  return out.str();
}

}  // namespace sluice::examples
