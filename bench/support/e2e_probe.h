// Instruments for the end-to-end latency benchmarks (bench/e2e): a paced client that records
// which version answered each request through a front door, a metric endpoint whose verdict the
// bench flips (and which timestamps the first failing answer it writes), a one-shot HTTP call
// with headers, and percentiles. Loopback only; every thread is joined by its owner's destructor.
//
// Times are steady_clock nanoseconds (steady_ns()), comparable across these instruments.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::bench {

int64_t steady_ns();

// p-th percentile (0..100, nearest rank) of `values`; 0 when empty.
double percentile(std::vector<double> values, double p);

struct HttpAnswer {
  int status = 0;  // 0: no answer (connect, write or read failed, or 5 s passed)
  std::string body;
};
// One request on a fresh connection to 127.0.0.1:port; `headers` are full lines without CRLF
// (e.g. "Authorization: Bearer ..."). Blocking, bounded by 5 s.
HttpAnswer http_call(unsigned short port, const std::string& method, const std::string& target,
                     const std::vector<std::string>& headers = {}, const std::string& body = "");

// `rate` GET / per second through 127.0.0.1:port over `connections` keep-alive connections (one
// thread each, each paced at rate/connections), until destroyed. Every answer is recorded with
// its send and receive time and whether its X-Version header equals `marked_version` (the
// canary). Failed requests are counted and the connection is opened again.
class VersionProbe {
 public:
  struct Answer {
    int64_t sent_ns;
    int64_t received_ns;
    bool marked;
  };
  VersionProbe(unsigned short port, int rate, int connections, std::string marked_version);
  ~VersionProbe();
  VersionProbe(const VersionProbe&) = delete;
  VersionProbe& operator=(const VersionProbe&) = delete;

  // Drops the answers recorded so far (call between measurements to bound memory).
  void clear();
  // The answers recorded so far, sorted by send time.
  std::vector<Answer> answers() const;
  // Whether a marked answer was sent at or after `since_ns`.
  bool marked_since(int64_t since_ns) const;
  int64_t failures() const { return failures_.load(); }
  int64_t answered() const { return answered_.load(); }

  // The time of the first answer after which only unmarked versions answer, for a switch
  // triggered at `trigger_ns`: let L be the send time of the last marked answer sent after the
  // trigger (the trigger itself when there is none); the result is the earliest receive time of
  // a request sent after L. Waits (bounded by `timeout_ns`) until `quiet_ns` have passed since L
  // with answers and no marked one; nullopt when that never happened.
  std::optional<int64_t> first_unmarked_only(int64_t trigger_ns, int64_t quiet_ns,
                                             int64_t timeout_ns) const;

 private:
  void run(int index, double per_connection_rate);

  unsigned short port_;
  int connections_;
  std::string marked_version_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> failures_{0};
  std::atomic<int64_t> answered_{0};
  mutable std::mutex mu_;
  std::vector<Answer> answers_;
  std::vector<std::thread> threads_;
};

// GET /verdict on 127.0.0.1:port() answers {"healthy": 1}, or {"healthy": 0} once fail() was
// called (until heal()). The time the first failing answer after fail() was written is kept:
// that is the moment the analysis provider got its failing verdict. One thread; joined by the
// destructor.
class VerdictServer {
 public:
  VerdictServer();
  ~VerdictServer();
  VerdictServer(const VerdictServer&) = delete;
  VerdictServer& operator=(const VerdictServer&) = delete;

  unsigned short port() const { return port_; }
  void fail();
  void heal();
  // Steady ns when the first failing answer since fail() was written; 0 before that.
  int64_t first_failing_answer_ns() const { return first_failing_ns_.load(); }
  int64_t requests() const { return requests_.load(); }

 private:
  void serve_loop();

  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  unsigned short port_ = 0;
  std::atomic<bool> failing_{false};
  std::atomic<int64_t> first_failing_ns_{0};
  std::atomic<int64_t> requests_{0};
  std::thread thread_;
};

}  // namespace sluice::bench
