// A tiny HTTP/1.1 backend for router tests and benchmarks: answers every request with its
// version (body and X-Backend-Version header), keep-alive. Behaviour by path:
//   /slow?ms=N     answer after N milliseconds
//   /reset         abort the connection (TCP RST) without answering
//   /status/NNN    answer with status NNN
//   anything else  200
// Behaviour (for every request, before the path rules): delay_ms adds latency to each answer;
// fail_every = N answers every Nth request (counted across connections) with 500.
// Runs on its own io_context and thread(s), bound to 127.0.0.1 on a kernel-assigned port.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace sluice::testing {

struct EchoBehaviour {
  int delay_ms = 0;
  int fail_every = 0;  // 0 = never
};

class EchoBackend {
 public:
  explicit EchoBackend(std::string version, int threads = 1, EchoBehaviour behaviour = {});
  ~EchoBackend();  // stops and joins
  EchoBackend(const EchoBackend&) = delete;
  EchoBackend& operator=(const EchoBackend&) = delete;

  uint16_t port() const;
  const std::string& version() const;
  uint64_t requests() const;  // requests received (counted when the header is read)
  int in_flight() const;      // requests received and not yet answered

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::testing
