// Shared pieces of the probes: where a probe's port references resolve, where exec commands run,
// and the outcome of one probe attempt.
//
// Only loopback is ever a network target: a probe or hook naming another host fails with a
// message instead of connecting.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "manifests/types.h"

namespace sluice::healthcheck {

// The instance a probe or hook runs against.
struct ProbeTarget {
  std::map<std::string, int> ports;  // named ports of the instance
  std::string working_dir;           // absolute; exec commands run here
  std::string checkout_dir;          // exec commands that are relative paths must stay in it
  std::vector<std::string> env;      // "NAME=value", the instance's environment for exec
};

// The result of one attempt.
struct ProbeOutcome {
  bool ok = false;
  std::string message;  // "HTTP 200", "connect: Connection refused", "exit code 1: <tail>"
  // Set when the attempt could not be made for lack of Sluice's own resources (issue 19):
  // "EMFILE", "ENFILE", "ENOMEM", "ENOBUFS", "EAGAIN" (own_resource_error()). Such an attempt
  // says nothing about the instance: Prober does not count it (see probe.h).
  std::string own_error;
};

// The name of an errno value that means Sluice itself ran out of something when it opened a
// socket or pipe or spawned a process: EMFILE, ENFILE (descriptors), ENOMEM, ENOBUFS (memory),
// EAGAIN (process limit for fork/spawn; ephemeral ports for connect). Empty for any other value.
std::string own_resource_error(int errno_value);

// A named port of the target ("http") or a number ("8080").
Result<int> resolve_port(const manifests::PortRef& ref, const std::map<std::string, int>& ports);

// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host);

}  // namespace sluice::healthcheck
