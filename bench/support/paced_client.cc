#include "bench/support/paced_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace sluice::bench {

namespace {

using Clock = std::chrono::steady_clock;

int connect_loopback(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Finds a header name case-insensitively within the head (HTTP header names are).
size_t find_header(const std::string& buf, size_t head_end, const std::string& lower_name) {
  for (size_t at = buf.find("\r\n"); at != std::string::npos && at < head_end;
       at = buf.find("\r\n", at + 2)) {
    const size_t start = at + 2;
    if (start + lower_name.size() > head_end) return std::string::npos;
    bool match = true;
    for (size_t i = 0; i < lower_name.size() && match; ++i)
      match = static_cast<char>(std::tolower(static_cast<unsigned char>(buf[start + i]))) ==
              lower_name[i];
    if (match) return start + lower_name.size();
  }
  return std::string::npos;
}

// Reads one response with a Content-Length body; false on error or a status other than 2xx
// (a 4xx or 5xx from the server under test is a failure to its client).
bool read_response(int fd, std::string& buf) {
  for (;;) {
    const size_t head_end = buf.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const size_t cl = find_header(buf, head_end, "content-length:");
      if (cl == std::string::npos) return false;
      const size_t len = std::stoul(buf.substr(cl));
      if (buf.size() >= head_end + 4 + len) {
        // "HTTP/1.1 200 OK": the status code starts at offset 9.
        const bool ok = buf.size() > 9 && buf.compare(0, 5, "HTTP/") == 0 && buf[9] == '2';
        buf.erase(0, head_end + 4 + len);
        return ok;
      }
    }
    char chunk[16384];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

double Latencies::percentile(double p) {
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  const size_t i =
      std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())));
  return ms[i];
}

Latencies paced_run(unsigned short port, const std::string& target, int rate, int seconds,
                    int connections) {
  std::vector<Latencies> per(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const int per_conn = rate * seconds / connections;
  const auto interval = std::chrono::nanoseconds(1'000'000'000LL * connections / rate);
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      Latencies& out = per[static_cast<size_t>(c)];
      int fd = connect_loopback(port);
      out.asked = per_conn;
      if (fd < 0) {
        out.errors = per_conn;
        return;
      }
      const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
      std::string buf;
      // Offset connections so that sends interleave evenly.
      const auto first = start + interval * c / connections;
      for (int i = 0; i < per_conn; ++i) {
        const auto scheduled = first + interval * i;
        std::this_thread::sleep_until(scheduled);
        if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()) ||
            !read_response(fd, buf)) {
          ++out.errors;
          close(fd);
          buf.clear();
          fd = connect_loopback(port);
          if (fd < 0) {
            out.errors += per_conn - i - 1;  // the rest were never sent: failures, not absent
            return;
          }
          continue;
        }
        out.ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count());
      }
      close(fd);
    });
  }
  for (auto& t : threads) t.join();
  Latencies all;
  for (auto& l : per) {
    all.ms.insert(all.ms.end(), l.ms.begin(), l.ms.end());
    all.errors += l.errors;
    all.asked += l.asked;
  }
  return all;
}

}  // namespace sluice::bench
