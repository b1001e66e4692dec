// One asynchronous HTTP/1.1 request to a loopback endpoint (Beast), used by httpGet probes and
// httpPost lifecycle hooks.
//
// Threading: the callback runs on `executor` exactly once. The whole exchange (resolve, connect,
// write, read) is bounded by `timeout`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "base/clock.h"
#include "manifests/types.h"

namespace sluice::healthcheck {

struct HttpRequestSpec {
  std::string method = "GET";  // GET | POST
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/";
  std::vector<manifests::HttpHeader> headers;
  Duration timeout{1000};
};

struct HttpOutcome {
  int status = 0;         // 0 when no response was read
  std::string error;      // transport error text; empty when a response was read
  std::string body_tail;  // last bytes of the body (at most 512)
  std::string own_error;  // Sluice's own resource error (own_resource_error()), else empty
  // Kubernetes: a status in [200, 400) is success.
  bool ok() const { return error.empty() && status >= 200 && status < 400; }
  std::string describe() const;  // "HTTP 503: <tail>" or "connect: Connection refused"
};

void async_http_request(const boost::asio::any_io_executor& executor, HttpRequestSpec spec,
                        std::function<void(HttpOutcome)> done);

}  // namespace sluice::healthcheck
