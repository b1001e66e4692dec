// sluice-testsvc: an HTTP/1.0-style test service on $POD_IP:$PORT (plain sockets, one thread).
// POD_IP (or --host) defaults to 127.0.0.1 and must be a loopback address (127.0.0.0/8): the
// kubelet stand-in runs it on a Pod's 127.x IP.
//
//   GET  /healthz            200, or 500 with --fail-healthz / after --healthz-fail-after-ms
//   GET  /ready              503 until --ready-after-ms has passed, then 200
//   GET  /info               {"pid":..,"role":"<SLUICE_ROLE_FILE content>","instance":..,
//                             "ready_at_ms":<unix ms when /ready turned 200>}
//   GET  /env/<NAME>         the value of an environment variable (404 when unset)
//   POST /admin/activate     200; appends "activate" to --record FILE
//   POST /admin/deactivate   200; appends "deactivate" to --record FILE
// Flags: --port N (default $PORT), --crash-after-ms N, --exit-code N, --hang-after-ms N
// (stop answering), --ignore-sigterm, --term-delay-ms N, --flood-bytes N (write N bytes of
// output at start), --flood-forever (write output until stopped), --no-listen,
// --max-lifetime-ms N (exit by itself; default 120000 so a leaked service always ends).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace {

volatile sig_atomic_t g_term = 0;
void on_term(int) { g_term = 1; }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Options {
  int port = 0;
  std::string host = "127.0.0.1";
  int64_t crash_after_ms = -1;
  int exit_code = 3;
  int64_t ready_after_ms = 0;
  int64_t hang_after_ms = -1;
  bool fail_healthz = false;
  int64_t healthz_fail_after_ms = -1;
  bool ignore_sigterm = false;
  int64_t term_delay_ms = 0;
  int64_t flood_bytes = 0;
  bool flood_forever = false;
  bool listen = true;
  int64_t max_lifetime_ms = 120'000;
  std::string record;
};

std::string read_file(const char* path) {
  if (!path) return "";
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string s = buf.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

void respond(int fd, int status, const std::string& body) {
  const char* reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Error";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                    "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t off = 0;
  while (off < out.size()) {
    const ssize_t n = write(fd, out.data() + off, out.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

void flood(int64_t bytes) {
  std::string line(99, 'x');
  line += '\n';
  for (int64_t written = 0; written < bytes; written += 100) fputs(line.c_str(), stdout);
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* p = getenv("PORT")) o.port = atoi(p);
  if (const char* h = getenv("POD_IP"); h != nullptr && *h != '\0') o.host = h;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> int64_t { return i + 1 < argc ? atoll(argv[++i]) : 0; };
    if (a == "--port")
      o.port = static_cast<int>(next());
    else if (a == "--crash-after-ms")
      o.crash_after_ms = next();
    else if (a == "--exit-code")
      o.exit_code = static_cast<int>(next());
    else if (a == "--ready-after-ms")
      o.ready_after_ms = next();
    else if (a == "--hang-after-ms")
      o.hang_after_ms = next();
    else if (a == "--fail-healthz")
      o.fail_healthz = true;
    else if (a == "--healthz-fail-after-ms")
      o.healthz_fail_after_ms = next();
    else if (a == "--ignore-sigterm")
      o.ignore_sigterm = true;
    else if (a == "--term-delay-ms")
      o.term_delay_ms = next();
    else if (a == "--flood-bytes")
      o.flood_bytes = next();
    else if (a == "--flood-forever")
      o.flood_forever = true;
    else if (a == "--no-listen")
      o.listen = false;
    else if (a == "--max-lifetime-ms")
      o.max_lifetime_ms = next();
    else if (a == "--host" && i + 1 < argc)
      o.host = argv[++i];
    else if (a == "--record" && i + 1 < argc)
      o.record = argv[++i];
    else {
      fprintf(stderr, "testsvc: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, o.ignore_sigterm ? SIG_IGN : on_term);
  const int64_t start = now_ms();
  printf("testsvc pid=%d port=%d\n", getpid(), o.port);
  fflush(stdout);
  if (o.flood_bytes > 0) flood(o.flood_bytes);

  int listener = -1;
  if (o.listen) {
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1 ||
        (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
      fprintf(stderr, "testsvc: --host %s is not a loopback IPv4 address\n", o.host.c_str());
      return 2;
    }
    addr.sin_port = htons(static_cast<uint16_t>(o.port));
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener, 128) != 0) {
      fprintf(stderr, "testsvc: bind %s:%d: %s\n", o.host.c_str(), o.port, strerror(errno));
      return 4;
    }
  }
  int64_t ready_at = -1;
  int64_t term_at = -1;
  while (true) {
    const int64_t now = now_ms();
    const int64_t age = now - start;
    if (g_term && term_at < 0) term_at = now + o.term_delay_ms;
    if (term_at >= 0 && now >= term_at) return 0;
    if (o.crash_after_ms >= 0 && age >= o.crash_after_ms) {
      fprintf(stderr, "testsvc: crashing with code %d\n", o.exit_code);
      return o.exit_code;
    }
    if (age >= o.max_lifetime_ms) return 0;
    if (ready_at < 0 && age >= o.ready_after_ms) ready_at = now;
    if (o.flood_forever) flood(16 * 1024);
    const bool hung = o.hang_after_ms >= 0 && age >= o.hang_after_ms;
    if (listener < 0 || hung) {
      usleep(o.flood_forever ? 1000 : 10'000);
      continue;
    }
    pollfd pfd{listener, POLLIN, 0};
    if (poll(&pfd, 1, o.flood_forever ? 1 : 10) <= 0) continue;
    const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string request;
    char buf[4096];
    pollfd cfd{fd, POLLIN, 0};
    while (request.find("\r\n\r\n") == std::string::npos && poll(&cfd, 1, 500) > 0) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::istringstream line(request);
    std::string method, path;
    line >> method >> path;
    const bool healthy =
        !o.fail_healthz && !(o.healthz_fail_after_ms >= 0 && age >= o.healthz_fail_after_ms);
    if (path == "/healthz") {
      respond(fd, healthy ? 200 : 500, healthy ? "ok" : "unhealthy");
    } else if (path == "/ready") {
      respond(fd, ready_at >= 0 ? 200 : 503, ready_at >= 0 ? "ready" : "starting");
    } else if (path == "/info") {
      const char* inst = getenv("SLUICE_INSTANCE");
      respond(fd, 200,
              "{\"pid\":" + std::to_string(getpid()) + ",\"role\":\"" +
                  read_file(getenv("SLUICE_ROLE_FILE")) + "\",\"instance\":\"" +
                  (inst ? inst : "") + "\",\"ready_at_ms\":" + std::to_string(ready_at) + "}");
    } else if (path.rfind("/env/", 0) == 0) {
      const char* v = getenv(path.substr(5).c_str());
      respond(fd, v ? 200 : 404, v ? v : "");
    } else if (method == "POST" && (path == "/admin/activate" || path == "/admin/deactivate")) {
      const std::string what = path.substr(7);
      if (!o.record.empty()) {
        std::ofstream out(o.record, std::ios::app);
        out << what << "\n";
      }
      respond(fd, 200, what);
    } else {
      respond(fd, 404, "not found");
    }
    close(fd);
  }
}
