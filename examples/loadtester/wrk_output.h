// What wrk (Debian's wrk 4.1) reports at the end of a run, parsed from its text output.
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sluice::examples {

struct WrkReport {
  int64_t requests = 0;         // "1234 requests in 2.00s, ..."
  int64_t non_2xx_3xx = 0;      // "Non-2xx or 3xx responses: N" (absent: 0)
  int64_t connect_errors = 0;   // "Socket errors: connect A, read B, write C, timeout D"
  int64_t read_errors = 0;
  int64_t write_errors = 0;
  int64_t timeouts = 0;
  double requests_per_second = 0;  // "Requests/sec: X"

  int64_t socket_errors() const { return connect_errors + read_errors + write_errors + timeouts; }
  bool clean() const { return requests > 0 && non_2xx_3xx == 0 && socket_errors() == 0; }
  // "1234 requests, 12 non-2xx/3xx responses, 3 socket errors (connect 0, read 3, write 0,
  // timeout 0)".
  std::string describe() const;
};

// nullopt when the text has no "N requests in" line (wrk did not run a test).
std::optional<WrkReport> parse_wrk_output(const std::string& text);

}  // namespace sluice::examples
