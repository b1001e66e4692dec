#include "examples/services/common/service_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sluice::examples {

void die(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(2);
}

Flags::Flags(int argc, char** argv, const std::set<std::string>& known,
             const std::set<std::string>& boolean_flags) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) die("unexpected argument: " + arg);
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (!known.count(name) && !boolean_flags.count(name)) die("unknown flag --" + name);
    if (boolean_flags.count(name)) {
      values_[name] = has_value ? value : "true";
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc) die("flag --" + name + " needs a value");
      value = argv[++i];
    }
    values_[name] = value;
  }
}

std::string Flags::get(const std::string& name, const char* env,
                       const std::string& fallback) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  if (env != nullptr) {
    const char* v = std::getenv(env);
    if (v != nullptr && *v != '\0') return v;
  }
  return fallback;
}

double Flags::get_double(const std::string& name, const char* env, double fallback, double min,
                         double max) const {
  std::string s = get(name, env, "");
  if (s.empty()) return fallback;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !(v >= min && v <= max)) {
    die("--" + name + " must be a number in [" + std::to_string(min) + ", " + std::to_string(max) +
        "], got '" + s + "'");
  }
  return v;
}

long Flags::get_int(const std::string& name, const char* env, long fallback, long min,
                    long max) const {
  std::string s = get(name, env, "");
  if (s.empty()) return fallback;
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0' || v < min || v > max) {
    die("--" + name + " must be an integer in [" + std::to_string(min) + ", " +
        std::to_string(max) + "], got '" + s + "'");
  }
  return v;
}

std::string current_role() {
  const char* path = std::getenv("SLUICE_ROLE_FILE");
  if (path == nullptr || *path == '\0') return "unknown";
  std::ifstream in(path);
  if (!in) return "unknown";
  std::string role;
  std::getline(in, role);
  size_t b = role.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "unknown";
  size_t e = role.find_last_not_of(" \t\r\n");
  return role.substr(b, e - b + 1);
}

void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_termination() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

void write_port_file(const std::string& path, uint16_t port) {
  if (path.empty()) return;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) die("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) die("cannot rename " + tmp);
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_loopback(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

std::string prom_escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string json_escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof(b), "\\u%04x", static_cast<unsigned>(c));
          out += b;
        } else {
          out += c;
        }
    }
  }
  return out;
}

LineLog::LineLog(const std::string& path) {
  if (path.empty()) return;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) die("cannot open " + path);
}

LineLog::~LineLog() {
  if (fd_ >= 0) ::close(fd_);
}

void LineLog::append(const std::string& line) {
  if (fd_ < 0) return;
  std::string data = line + "\n";
  ssize_t n = ::write(fd_, data.data(), data.size());
  if (n != static_cast<ssize_t>(data.size())) {
    std::fprintf(stderr, "warning: short write to a line log\n");
  }
}

void RateLimitedLog::log(const std::string& key, const std::string& message) {
  int64_t now = unix_ms();
  std::lock_guard lock(mu_);
  auto& [last, suppressed] = last_[key];
  if (last != 0 && now - last < interval_ms_) {
    ++suppressed;
    return;
  }
  if (suppressed > 0) {
    std::fprintf(stderr, "%s (%ld similar messages suppressed)\n", message.c_str(), suppressed);
  } else {
    std::fprintf(stderr, "%s\n", message.c_str());
  }
  last = now;
  suppressed = 0;
}

}  // namespace sluice::examples
