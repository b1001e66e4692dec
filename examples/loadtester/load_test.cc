#include "examples/loadtester/load_test.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/process.h"
#include "examples/loadtester/wrk_output.h"

namespace sluice::examples {

using nlohmann::json;

namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  // 127.a.b.c, each part 0..255.
  std::vector<std::string> parts{""};
  for (char c : host) {
    if (c == '.') {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  if (parts.size() != 4 || parts[0] != "127") return false;
  for (const auto& p : parts) {
    if (!all_digits(p) || p.size() > 3 || std::stoi(p) > 255) return false;
  }
  return true;
}

// "10s", "2m", or a bare number of seconds.
std::optional<int> parse_seconds(const std::string& text) {
  std::string digits = text;
  int scale = 1;
  if (!digits.empty() && digits.back() == 's') {
    digits.pop_back();
  } else if (!digits.empty() && digits.back() == 'm') {
    digits.pop_back();
    scale = 60;
  }
  if (!all_digits(digits) || digits.size() > 5) return std::nullopt;
  return std::stoi(digits) * scale;
}

std::string metadata_string(const json& metadata, const char* key, const std::string& fallback) {
  if (!metadata.contains(key)) return fallback;
  const json& v = metadata.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return "";
}

LoadTestOutcome failure(const std::string& message, json extra = json::object()) {
  extra["ok"] = false;
  extra["message"] = message;
  return {500, extra.dump()};
}

}  // namespace

bool is_loopback_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  const std::string rest = url.substr(scheme.size());
  const std::string authority = rest.substr(0, rest.find('/'));
  if (authority.find('@') != std::string::npos) return false;
  std::string host = authority;
  if (!authority.empty() && authority[0] == '[') {
    host = authority.substr(0, authority.find(']') + 1);
  } else if (auto colon = authority.find(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
  }
  return is_loopback_host(host);
}

Result<LoadTestRequest> load_test_from_body(const std::string& body, const LoadTestLimits& limits) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    return invalid_argument(std::string("the body is not JSON: ") + e.what());
  }
  if (!j.is_object()) return invalid_argument("the body must be a JSON object");
  LoadTestRequest r;
  r.rollout = j.value("name", "");
  const json metadata = j.value("metadata", json::object());
  if (!metadata.is_object()) return invalid_argument("metadata: must be an object");
  r.url = metadata_string(metadata, "url", "");
  if (r.url.empty()) return invalid_argument("metadata.url: required (the target of the load)");
  if (!is_loopback_http_url(r.url)) {
    return invalid_argument(
        "metadata.url: must be an http:// URL on loopback (127.0.0.0/8, localhost, [::1]); this "
        "example refuses other targets so that it cannot be aimed at another host");
  }
  const auto duration = parse_seconds(metadata_string(metadata, "duration", "10s"));
  if (!duration || *duration < 1 || *duration > limits.max_duration_seconds) {
    return invalid_argument("metadata.duration: must be 1s.." +
                            std::to_string(limits.max_duration_seconds) + "s (like \"10s\")");
  }
  r.duration_seconds = *duration;
  const std::string connections = metadata_string(metadata, "connections", "4");
  if (!all_digits(connections) || connections.size() > 5 || std::stoi(connections) < 1 ||
      std::stoi(connections) > limits.max_connections) {
    return invalid_argument("metadata.connections: must be 1.." +
                            std::to_string(limits.max_connections));
  }
  r.connections = std::stoi(connections);
  r.threads = std::min(r.connections, 2);
  return r;
}

LoadTestOutcome run_load_test(const LoadTestRequest& request, const LoadTestLimits& limits) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return failure("pipe: " + std::string(strerror(errno)));
  SpawnRequest spawn;
  spawn.argv = {limits.wrk,
                "-t",
                std::to_string(request.threads),
                "-c",
                std::to_string(request.connections),
                "-d",
                std::to_string(request.duration_seconds) + "s",
                "--timeout",
                "2s",
                request.url};
  const char* path = std::getenv("PATH");
  spawn.env = {std::string("PATH=") + (path ? path : "/usr/bin:/bin")};
  spawn.stdout_fd = fds[1];
  spawn.stderr_fd = fds[1];
  auto pid = spawn_process(spawn);
  close(fds[1]);
  if (!pid) {
    close(fds[0]);
    return failure("could not start wrk: " + pid.status().message());
  }
  // Read everything wrk prints, within duration + 15 s; then it is killed.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(request.duration_seconds + 15);
  std::string output;
  bool killed = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(*pid, SIGKILL);
      killed = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;  // EOF: wrk is done
    if (output.size() < (1 << 20)) output.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (killed) return failure("wrk did not finish within its duration + 15 s; killed");
  const ExitStatus exit = decode_wait_status(status);
  const auto report = parse_wrk_output(output);
  if (!report) {
    return failure("wrk " + exit.describe() + " without a report: " + output.substr(0, 300));
  }
  json result = {{"requests", report->requests},
                 {"non2xx3xx", report->non_2xx_3xx},
                 {"socketErrors",
                  {{"connect", report->connect_errors},
                   {"read", report->read_errors},
                   {"write", report->write_errors},
                   {"timeout", report->timeouts}}},
                 {"requestsPerSecond", report->requests_per_second}};
  if (!report->clean()) {
    return failure("wrk saw errors against " + request.url + ": " + report->describe(), result);
  }
  result["ok"] = true;
  result["message"] = "clean: " + report->describe();
  return {200, result.dump()};
}

}  // namespace sluice::examples
