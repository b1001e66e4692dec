// Small pieces shared by the example services: flags, the Sluice role file, signals, logs.
// All functions are thread-safe unless noted.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace sluice::examples {

// `--name value` / `--name=value` flags; names in `boolean_flags` take no value.
// Exits with status 2 and a message on malformed input (these are process entry points).
class Flags {
 public:
  Flags(int argc, char** argv, const std::set<std::string>& known,
        const std::set<std::string>& boolean_flags);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  // The flag, else the environment variable `env` (when non-empty), else `fallback`.
  std::string get(const std::string& name, const char* env, const std::string& fallback) const;
  double get_double(const std::string& name, const char* env, double fallback, double min,
                    double max) const;
  long get_int(const std::string& name, const char* env, long fallback, long min, long max) const;

 private:
  std::map<std::string, std::string> values_;
};

[[noreturn]] void die(const std::string& message);

// Content of the file named by SLUICE_ROLE_FILE (stable|canary|preview), trimmed; "unknown"
// when the variable is unset or the file unreadable. Read on every call: Sluice rewrites it.
std::string current_role();

// Blocks SIGTERM and SIGINT in the calling thread; call first in main(), before any thread
// starts, so every thread inherits the mask. Then wait_for_termination() returns the signal.
void block_termination_signals();
int wait_for_termination();

// Writes the bound port to `path` atomically (temp file + rename), for tests using --port 0.
void write_port_file(const std::string& path, uint16_t port);

int64_t unix_ms();

// True for 127.0.0.0/8 and ::1: the examples talk to loopback peers only.
bool is_loopback(const sockaddr* address);

// Prometheus label value escaping.
std::string prom_escape(const std::string& value);
// JSON string escaping (without quotes).
std::string json_escape(const std::string& value);

// An append-only line log (O_APPEND, one write(2) per line, so concurrent writers from
// several processes never interleave within a line). Disabled when the path is empty.
class LineLog {
 public:
  explicit LineLog(const std::string& path);
  ~LineLog();
  LineLog(const LineLog&) = delete;
  LineLog& operator=(const LineLog&) = delete;
  void append(const std::string& line);

 private:
  int fd_ = -1;
};

// Logging to stderr that drops repeats: at most one line per `key` per interval.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(int64_t interval_ms) : interval_ms_(interval_ms) {}
  void log(const std::string& key, const std::string& message);

 private:
  int64_t interval_ms_;
  std::mutex mu_;
  std::map<std::string, std::pair<int64_t, long>> last_;  // key -> (last print, suppressed)
};

}  // namespace sluice::examples
