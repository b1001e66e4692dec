// Plain-socket HTTP/1.1 pieces shared by the benchmark clients (paced_client, e2e_probe): no
// library between the measurement and the socket. Loopback only.
#pragma once

#include <cstddef>
#include <string>

namespace sluice::bench {

// A TCP connection to 127.0.0.1:port with TCP_NODELAY and a 2 s receive timeout; -1 on failure.
int connect_loopback(unsigned short port);

// The offset just after "name" (lower case, with its ':') in a response head, matched
// case-insensitively at a line start before head_end; npos when absent.
size_t find_header(const std::string& buf, size_t head_end, const std::string& lower_name);

// Reads one response framed by Content-Length from fd; `buf` keeps bytes read beyond it for the
// next call. Returns the status code, or 0 on a read error, a timeout or a response without
// Content-Length. `head` and `body` receive the response's head and body when given.
int read_response(int fd, std::string& buf, std::string* head = nullptr,
                  std::string* body = nullptr);

}  // namespace sluice::bench
