#include "bench/support/paced_client.h"

#include "bench/support/loopback_http.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace sluice::bench {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

double Latencies::percentile(double p) {
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  const size_t i = std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size())));
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
            read_response(fd, buf) / 100 != 2) {
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
