#include "bench/support/wrk_runner.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <vector>

extern char** environ;

namespace sluice::bench {
namespace {

double to_ms(double v, const std::string& unit) {
  if (unit == "us") return v / 1000;
  if (unit == "s") return v * 1000;
  return v;
}

// The number after `key` in wrk's output ("Requests/sec:  12345.67", "     50%  123.00us"), and
// its unit when asked for.
double value_after(const std::string& text, const std::string& key, std::string* unit) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return 0;
  size_t i = at + key.size();
  while (i < text.size() && text[i] == ' ') ++i;
  size_t end = i;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) {
    ++end;
  }
  if (end == i) return 0;
  if (unit != nullptr) {
    size_t u = end;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) ++u;
    *unit = text.substr(end, u - end);
  }
  return std::stod(text.substr(i, end - i));
}

}  // namespace

WrkResult run_wrk(uint16_t port, int connections, int seconds) {
  WrkResult out;
  int fds[2];
  if (pipe(fds) != 0) return out;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<std::string> args = {"wrk",
                                   "-t1",
                                   "-c" + std::to_string(connections),
                                   "-d" + std::to_string(seconds) + "s",
                                   "--latency",
                                   "http://127.0.0.1:" + std::to_string(port) + "/"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, "wrk", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while (rc == 0 && (n = read(fds[0], buf, sizeof(buf))) > 0) {
    text.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (rc != 0) return out;
  int status = 0;
  waitpid(pid, &status, 0);
  std::string unit;
  out.rps = value_after(text, "Requests/sec:", nullptr);
  out.p50_ms = to_ms(value_after(text, " 50%", &unit), unit);
  out.p99_ms = to_ms(value_after(text, " 99%", &unit), unit);
  // "  93051 requests in 3.00s": the count starts its line.
  if (const size_t at = text.find(" requests in "); at != std::string::npos) {
    const size_t line = text.rfind('\n', at);
    out.requests = value_after(text.substr(line == std::string::npos ? 0 : line + 1), "", nullptr);
  }
  for (const char* key : {"Socket errors", "Non-2xx"}) {
    if (const size_t at = text.find(key); at != std::string::npos) {
      out.errors += " [" + text.substr(at, text.find('\n', at) - at) + "]";
    }
  }
  out.ok = out.rps > 0 && out.errors.empty();
  return out;
}

}  // namespace sluice::bench
