// A synchronous HTTPS client for the Kubernetes API server: requests and watch streams.
//
// Transport: HTTP/1.1 over TLS 1.2 or newer. The server certificate is always verified: against
// ClusterConfig::ca_pem only when it is set (the system store is not consulted), else against the
// system store; the certificate must name the host (an IP SAN for an IP address) or
// tls_server_name when that is set. DNS names are sent as SNI. A client certificate is presented
// when client_cert_pem and client_key_pem are set, and then no bearer token is sent; otherwise
// the token (re-read from token_file when that file changes) goes in "Authorization: Bearer".
//
// Threads: every method may be called from several threads at once. Each call opens its own
// connection (Connection: close) on its own io_context, so calls share nothing but the read-only
// TLS context and the mutex-guarded token. This costs a TCP and TLS handshake per request, which
// is cheap next to the reads it serves (an informer lists once and then watches, and reconciles
// read the cache); it was chosen over a keep-alive pool because a pooled connection that the
// server has closed must be detected and a non-idempotent request must never be resent.
//
// Errors: transport failures (resolve, connect, TLS, send, receive, body too large) are a Status
// with a one-line cause, kUnavailable, or kDeadlineExceeded when the per-request timeout passed.
// Any HTTP answer, also 4xx and 5xx, is a Response. No message carries a token or a key.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "kube/kubeconfig.h"
#include "kube/patch_type.h"
#include "kube/response.h"

namespace sluice::kube {

// Bounds on what the server may send.
inline constexpr size_t kMaxResponseBodyBytes = size_t{64} << 20;  // 64 MiB
inline constexpr size_t kMaxWatchLineBytes = size_t{16} << 20;     // one watch event: 16 MiB

struct RestClientOptions {
  Duration timeout{10'000};  // per request: resolve, connect, TLS, send and the whole answer
  std::string user_agent = "sluice";
};

const char* patch_content_type(PatchType type);

class RestClient {
 public:
  // Checks the server URL (https only), the TLS material (CA bundle, client certificate and key)
  // and, with a token file, that the file can be read. Errors name config.source.
  static Result<std::unique_ptr<RestClient>> create(ClusterConfig config,
                                                    RestClientOptions options = {});
  ~RestClient();
  RestClient(const RestClient&) = delete;
  RestClient& operator=(const RestClient&) = delete;

  // `path` starts with '/' and may carry a query ("/api/v1/namespaces/shop/pods?limit=500"); it
  // is appended to the server URL's own path, if any. Bodies are sent as application/json.
  Result<Response> get(const std::string& path);
  Result<Response> post(const std::string& path, const nlohmann::json& body);
  Result<Response> put(const std::string& path, const nlohmann::json& body);
  Result<Response> patch(const std::string& path, const std::string& body, PatchType type);
  Result<Response> del(const std::string& path);
  // Any method ("GET", "DELETE", ...); `content_type` is sent only with a non-empty body.
  Result<Response> request(const std::string& method, const std::string& path,
                           const std::string& body, const std::string& content_type);

  // A watch: GETs `path` (the caller adds ?watch=1&resourceVersion=...&allowWatchBookmarks=true)
  // and reads the stream of newline-delimited JSON events ({"type": ..., "object": ...}), calling
  // on_event for each, in order, on the calling thread. Returns:
  //  - OK when on_event returns false, when the server ends the stream, or when `stop` becomes
  //    true (looked at least every 200 ms, also while connecting);
  //  - kDeadlineExceeded when no byte arrives for `idle_timeout` once the answer has begun
  //    (connecting and the answer's header are bounded by the options' timeout);
  //  - for a non-200 answer, or an event of type ERROR (the apiserver reports an expired
  //    resourceVersion either way; ERROR events are not passed to on_event), the apiserver's
  //    message with Response::to_status()'s code. 410 Gone is kFailedPrecondition, used for
  //    nothing else, and its message contains "410 Gone": list again, then watch from the new
  //    resourceVersion (client-go's reflector does the same);
  //  - kUnavailable for transport failures, a stream cut in the middle, a line that is not a
  //    JSON object, or an event longer than kMaxWatchLineBytes.
  // Messages never quote an event (objects may be Secrets).
  Status watch(const std::string& path, const std::function<bool(const nlohmann::json&)>& on_event,
               const std::atomic<bool>& stop, Duration idle_timeout);

  const ClusterConfig& config() const;
  const RestClientOptions& options() const;

 private:
  struct Impl;
  explicit RestClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kube
