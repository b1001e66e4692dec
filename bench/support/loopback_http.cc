#include "bench/support/loopback_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

namespace sluice::bench {

int connect_loopback(unsigned short port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
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

int read_response(int fd, std::string& buf, std::string* head, std::string* body) {
  for (;;) {
    const size_t head_end = buf.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const size_t cl = find_header(buf, head_end, "content-length:");
      if (cl == std::string::npos) return 0;
      const size_t len = std::stoul(buf.substr(cl));
      if (buf.size() >= head_end + 4 + len) {
        // "HTTP/1.1 200 OK": the status code starts at offset 9.
        int status = 0;
        if (buf.size() > 12 && buf.compare(0, 5, "HTTP/") == 0) status = std::atoi(&buf[9]);
        if (head) head->assign(buf, 0, head_end);
        if (body) body->assign(buf, head_end + 4, len);
        buf.erase(0, head_end + 4 + len);
        return status;
      }
    }
    char chunk[16384];
    const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return 0;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace sluice::bench
