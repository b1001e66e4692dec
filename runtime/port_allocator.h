// Free loopback ports for instances whose named ports say containerPort: 0.
//
// A port is found by binding 127.0.0.1:0, reading the kernel's choice and closing the socket; the
// child binds it a moment later. Ports already handed out (to live or adopted instances) are
// remembered and never handed out twice, which covers contention between our own instances;
// another program taking the port in the gap shows up as the child failing to bind, and the
// runtime re-checks a port before each restart (is_free) and takes a new one if it is taken.
//
// Threading: not thread-safe; owned by the runtime's strand.
#pragma once

#include <set>

#include "base/status.h"

namespace sluice::runtime {

class PortAllocator {
 public:
  Result<int> allocate();
  void reserve(int port) { held_.insert(port); }
  void release(int port) { held_.erase(port); }
  bool held(int port) const { return held_.count(port) > 0; }
  // Whether 127.0.0.1:port can be bound right now.
  static bool is_free(int port);

 private:
  std::set<int> held_;
};

}  // namespace sluice::runtime
