// orders-load: steady HTTP load against a Sluice front door, counted per version; or, with
// --kafka-brokers, records produced to a Kafka topic, an audit of a processed topic, or a
// consumer group's lag (kafka_modes.h).
//
//   orders-load --target 127.0.0.1:18080 [--rps 100] [--connections 4] [--path /orders]
//               [--duration-s 600] [--max-requests N] [--timeout-ms 2000]
//               [--stats-file F] [--stats-interval-ms 250] [--output text|json] [--help]
//
// The demo and the end-to-end tests use it to show what clients saw during a rollout: how many
// requests each version answered (the router's X-Sluice-Version header), how many failed (any
// 4xx or 5xx - a 400, 413 or 431 from the router fails the client as surely as a 502 - connection
// errors, timeouts), when the first failure happened and when each version last
// answered. The counts are one JSON object, written atomically to --stats-file every interval.
// At the end (SIGTERM/SIGINT, --duration-s or --max-requests) a summary for people goes to stdout
// (`--output json` prints the JSON object instead).
//
// Safety: only loopback targets are accepted (127.0.0.0/8, ::1, localhost), the rate is capped,
// and the run always ends by itself (--duration-s is at most one hour).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "examples/services/common/service_util.h"
#include "examples/services/orders-load/kafka_modes.h"

namespace sluice::examples {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string host;
  std::string port;
  std::string path = "/orders";
  double rps = 100;
  long connections = 4;
  long duration_s = 600;
  long max_requests = 0;  // 0: no limit
  long timeout_ms = 2000;
  std::string stats_file;
  long stats_interval_ms = 250;
  bool json_output = false;
};

constexpr const char* kUsage =
    R"(orders-load: steady HTTP load against a Sluice front door, counted per version.

usage: orders-load --target HOST:PORT [flags]

  --target HOST:PORT       the front door; loopback only (127.0.0.0/8, ::1, localhost)
  --rps N                  requests per second over all connections (default 100, at most 20000)
  --connections N          keep-alive connections (default 4, at most 256)
  --path P                 request path (default /orders)
  --duration-s N           stop after N seconds (default 600, at most 3600)
  --max-requests N         stop after N requests (default: no limit)
  --timeout-ms N           per-request timeout (default 2000)
  --stats-file F           write the counts as JSON to F every interval (atomic rename)
  --stats-interval-ms N    how often (default 250)
  --output text|json       the summary printed at the end (default text)
  --help                   this text

A request fails on a 4xx or 5xx answer, a connection error or a timeout. The version of each
answer comes from the router's X-Sluice-Version header. SIGINT or SIGTERM ends the run early
and still prints the summary.
)";

struct VersionCounts {
  uint64_t ok = 0;            // 1xx-3xx
  uint64_t client_errors = 0; // 4xx: a failure too (the client's request was refused)
  uint64_t server_errors = 0; // 5xx
  int64_t first_ms = 0;       // unix ms of the first answer from this version
  int64_t last_ms = 0;        // unix ms of the latest answer from this version
};

// HH:MM:SS.mmm in local time, for the summary.
std::string clock_time(int64_t ms) {
  const time_t secs = static_cast<time_t>(ms / 1000);
  tm local{};
  ::localtime_r(&secs, &local);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min, local.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// Everything the workers count; one mutex, taken once per request (a few hundred per second).
class Tally {
 public:
  void answered(const std::string& version, int status) {
    const int64_t now = unix_ms();
    std::lock_guard lock(mu_);
    ++requests_;
    VersionCounts& v = by_version_[version.empty() ? "unknown" : version];
    if (v.first_ms == 0) v.first_ms = now;
    v.last_ms = now;
    if (status >= 500) {
      ++v.server_errors;
      failed_locked(now);
    } else if (status >= 400) {
      ++v.client_errors;
      failed_locked(now);
    } else {
      ++v.ok;
    }
  }
  void transport_error(const std::string& why) {
    const int64_t now = unix_ms();
    std::lock_guard lock(mu_);
    ++requests_;
    ++transport_errors_;
    last_transport_error_ = why;
    failed_locked(now);
  }
  uint64_t requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // The end-of-run summary for people, e.g.
  //   requests: 3840 in 19.2 s (200/s); failed: 13 (0 connection errors or timeouts)
  //     1.0.0: 2198 ok, 0 failed; answered 12:00:01.020 - 12:00:12.480
  //   first failed request: 12:00:14.031 (after 13.0 s)
  std::string summary(int64_t started_ms) {
    std::lock_guard lock(mu_);
    const int64_t elapsed_ms = std::max<int64_t>(1, unix_ms() - started_ms);
    char line[512];
    std::snprintf(line, sizeof line,
                  "requests: %llu in %.1f s (%.0f/s); failed: %llu (%llu connection errors or "
                  "timeouts)\n",
                  static_cast<unsigned long long>(requests_), elapsed_ms / 1000.0,
                  static_cast<double>(requests_) * 1000.0 / static_cast<double>(elapsed_ms),
                  static_cast<unsigned long long>(failed_),
                  static_cast<unsigned long long>(transport_errors_));
    std::string out = line;
    for (const auto& [version, c] : by_version_) {
      std::snprintf(line, sizeof line, "  %s: %llu ok, %llu failed (%llu 4xx, %llu 5xx); answered %s - %s\n",
                    version.c_str(), static_cast<unsigned long long>(c.ok),
                    static_cast<unsigned long long>(c.client_errors + c.server_errors),
                    static_cast<unsigned long long>(c.client_errors),
                    static_cast<unsigned long long>(c.server_errors),
                    clock_time(c.first_ms).c_str(), clock_time(c.last_ms).c_str());
      out += line;
    }
    if (first_failure_ms_ != 0) {
      std::snprintf(line, sizeof line, "first failed request: %s (after %.1f s)\n",
                    clock_time(first_failure_ms_).c_str(),
                    (first_failure_ms_ - started_ms) / 1000.0);
      out += line;
    }
    if (!last_transport_error_.empty()) {
      out += "last connection error: " + last_transport_error_ + "\n";
    }
    return out;
  }

  std::string json(int64_t started_ms, bool finished) {
    std::lock_guard lock(mu_);
    std::string out = "{\"requests\":" + std::to_string(requests_) +
                      ",\"failed\":" + std::to_string(failed_) +
                      ",\"transportErrors\":" + std::to_string(transport_errors_) +
                      ",\"lastTransportError\":\"" + json_escape(last_transport_error_) + "\"" +
                      ",\"firstFailureMs\":" + std::to_string(first_failure_ms_) +
                      ",\"startedMs\":" + std::to_string(started_ms) +
                      ",\"nowMs\":" + std::to_string(unix_ms()) +
                      ",\"finished\":" + (finished ? "true" : "false") + ",\"versions\":{";
    bool first = true;
    for (const auto& [version, c] : by_version_) {
      if (!first) out += ",";
      first = false;
      out += "\"" + json_escape(version) + "\":{\"ok\":" + std::to_string(c.ok) +
             ",\"clientErrors\":" + std::to_string(c.client_errors) +
             ",\"serverErrors\":" + std::to_string(c.server_errors) +
             ",\"firstMs\":" + std::to_string(c.first_ms) +
             ",\"lastMs\":" + std::to_string(c.last_ms) + "}";
    }
    return out + "}}";
  }

 private:
  void failed_locked(int64_t now) {
    ++failed_;
    if (first_failure_ms_ == 0) first_failure_ms_ = now;
  }

  std::mutex mu_;
  uint64_t requests_ = 0;
  uint64_t failed_ = 0;
  uint64_t transport_errors_ = 0;
  std::string last_transport_error_;
  int64_t first_failure_ms_ = 0;
  std::map<std::string, VersionCounts> by_version_;
};

// One keep-alive connection, blocking I/O bounded by SO_RCVTIMEO/SO_SNDTIMEO.
class Connection {
 public:
  Connection(const addrinfo* target, long timeout_ms) : target_(target), timeout_ms_(timeout_ms) {}
  ~Connection() { close(); }

  // One GET; returns false with `why` on a transport failure (the connection is then closed).
  bool get(const std::string& request, int& status, std::string& version, std::string& why) {
    if (fd_ < 0 && !connect(why)) return false;
    if (!send_all(request)) return fail("write: " + std::string(std::strerror(errno)), why);
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (buffer_.size() > 64 * 1024) return fail("response headers too large", why);
      if (!fill(why)) return false;
    }
    const std::string head = buffer_.substr(0, header_end);
    if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) return fail("bad status line", why);
    status = std::atoi(head.c_str() + 9);
    size_t content_length = 0;
    // HTTP/1.0 closes after each answer unless it says keep-alive.
    bool close_after = head.rfind("HTTP/1.0", 0) == 0;
    version.clear();
    size_t line = head.find("\r\n");
    while (line != std::string::npos) {
      const size_t next = head.find("\r\n", line + 2);
      std::string h = head.substr(line + 2, next == std::string::npos ? std::string::npos
                                                                      : next - line - 2);
      const size_t colon = h.find(':');
      if (colon != std::string::npos) {
        std::string name = h.substr(0, colon);
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        if (name == "content-length") content_length = std::strtoul(value.c_str(), nullptr, 10);
        if (name == "x-sluice-version") version = value;
        if (name == "connection" && value.find("close") != std::string::npos) close_after = true;
        if (name == "connection" && value.find("keep-alive") != std::string::npos) {
          close_after = false;
        }
      }
      line = next;
    }
    const size_t total = header_end + 4 + content_length;
    while (buffer_.size() < total) {
      if (!fill(why)) return false;
    }
    buffer_.erase(0, total);
    if (close_after) close();
    return true;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buffer_.clear();
  }

 private:
  bool connect(std::string& why) {
    fd_ = ::socket(target_->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return fail("socket: " + std::string(std::strerror(errno)), why);
    timeval tv{timeout_ms_ / 1000, static_cast<suseconds_t>((timeout_ms_ % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, target_->ai_addr, target_->ai_addrlen) != 0) {
      return fail("connect: " + std::string(std::strerror(errno)), why);
    }
    return true;
  }
  bool send_all(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  bool fill(std::string& why) {
    char chunk[16 * 1024];
    for (;;) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) return fail("connection closed by the server", why);
      if (errno == EAGAIN || errno == EWOULDBLOCK) return fail("timed out", why);
      return fail("read: " + std::string(std::strerror(errno)), why);
    }
  }
  bool fail(const std::string& message, std::string& why) {
    why = message;
    close();
    return false;
  }

  const addrinfo* target_;
  long timeout_ms_;
  int fd_ = -1;
  std::string buffer_;
};

void write_stats(const std::string& path, const std::string& json) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

int run(int argc, char** argv) {
  block_termination_signals();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::fputs(kKafkaUsage, stdout);
      return 0;
    }
  }
  std::set<std::string> known = {"target",       "rps",        "connections",
                                 "path",         "duration-s", "max-requests",
                                 "timeout-ms",   "stats-file", "stats-interval-ms",
                                 "output"};
  known.merge(kafka_flag_names());
  Flags flags(argc, argv, known, {});
  Options o;
  const std::string output = flags.get("output", nullptr, "text");
  if (output != "text" && output != "json") die("--output must be text or json, not " + output);
  o.json_output = output == "json";
  if (flags.has("kafka-brokers")) return run_kafka_mode(flags, o.json_output);
  const std::string target = flags.get("target", nullptr, "");
  const size_t colon = target.rfind(':');
  if (target.empty() || colon == std::string::npos) {
    die("--target HOST:PORT is required (orders-load --help lists the flags)");
  }
  o.host = target.substr(0, colon);
  if (o.host.size() > 2 && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
  o.port = target.substr(colon + 1);
  o.rps = flags.get_double("rps", nullptr, o.rps, 1, 20'000);
  o.connections = flags.get_int("connections", nullptr, o.connections, 1, 256);
  o.path = flags.get("path", nullptr, o.path);
  o.duration_s = flags.get_int("duration-s", nullptr, o.duration_s, 1, 3600);
  o.max_requests = flags.get_int("max-requests", nullptr, 0, 0, 100'000'000);
  o.timeout_ms = flags.get_int("timeout-ms", nullptr, o.timeout_ms, 10, 60'000);
  o.stats_file = flags.get("stats-file", nullptr, "");
  o.stats_interval_ms = flags.get_int("stats-interval-ms", nullptr, o.stats_interval_ms, 10, 60'000);

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* resolved = nullptr;
  if (int rc = ::getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &resolved); rc != 0) {
    die("--target " + target + ": " + ::gai_strerror(rc));
  }
  if (!is_loopback(resolved->ai_addr)) die("--target must be a loopback address: " + target);

  Tally tally;
  std::atomic<bool> stop{false};
  const int64_t started_ms = unix_ms();
  const auto deadline = SteadyClock::now() + std::chrono::seconds(o.duration_s);
  const std::string request =
      "GET " + o.path + " HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: orders-load\r\n\r\n";
  const auto per_connection_interval = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(static_cast<double>(o.connections) / o.rps));

  std::vector<std::thread> workers;
  for (long w = 0; w < o.connections; ++w) {
    workers.emplace_back([&, w] {
      Connection conn(resolved, o.timeout_ms);
      // Stagger the connections across one interval so the load is smooth.
      auto next = SteadyClock::now() + per_connection_interval * w / o.connections;
      while (!stop.load(std::memory_order_relaxed) && SteadyClock::now() < deadline) {
        std::this_thread::sleep_until(next);
        next += per_connection_interval;
        if (o.max_requests > 0 && tally.requests() >= static_cast<uint64_t>(o.max_requests)) {
          break;
        }
        int status = 0;
        std::string version, why;
        if (conn.get(request, status, version, why)) {
          tally.answered(version, status);
        } else {
          tally.transport_error(why);
        }
        // Behind schedule (a slow answer): do not burst to catch up.
        next = std::max(next, SteadyClock::now() - per_connection_interval);
      }
    });
  }

  // The main thread waits for a signal, the deadline or the request budget, writing stats.
  sigset_t termination;
  sigemptyset(&termination);
  sigaddset(&termination, SIGTERM);
  sigaddset(&termination, SIGINT);
  for (;;) {
    write_stats(o.stats_file, tally.json(started_ms, false));
    if (SteadyClock::now() >= deadline) break;
    if (o.max_requests > 0 && tally.requests() >= static_cast<uint64_t>(o.max_requests)) break;
    const timespec wait{o.stats_interval_ms / 1000, (o.stats_interval_ms % 1000) * 1'000'000};
    if (sigtimedwait(&termination, nullptr, &wait) > 0) break;
  }
  stop = true;
  for (auto& t : workers) t.join();
  ::freeaddrinfo(resolved);
  const std::string summary = tally.json(started_ms, true);
  write_stats(o.stats_file, summary);
  if (o.json_output) {
    std::printf("%s\n", summary.c_str());
  } else {
    std::fputs(tally.summary(started_ms).c_str(), stdout);
  }
  return 0;
}

}  // namespace
}  // namespace sluice::examples

int main(int argc, char** argv) { return sluice::examples::run(argc, argv); }
