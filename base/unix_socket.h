// One request, one answer over a local (AF_UNIX) stream socket: connect, send the request, read
// the answer until the peer closes. The shape of HAProxy's runtime API and of the built-in
// router's control socket (traffic/router_control.h). Blocking; every connect, send and receive
// is bounded by `timeout`, and the answer by `max_answer_bytes`.
#pragma once

#include <cstddef>
#include <string>

#include "base/clock.h"
#include "base/status.h"

namespace sluice {

// Errors are `unavailable` and name `what` (e.g. "haproxy runtime API /run/h.sock: \"show
// stat\""), the step that failed and errno.
Result<std::string> unix_socket_exchange(const std::string& socket_path, const std::string& request,
                                         Duration timeout, const std::string& what,
                                         size_t max_answer_bytes = 64 * 1024 * 1024);

// Listens on `socket_path` (an existing file there is replaced) with mode 0600: only the
// owner may connect. Returns the listening descriptor (close-on-exec).
Result<int> listen_unix_socket(const std::string& socket_path);

}  // namespace sluice
