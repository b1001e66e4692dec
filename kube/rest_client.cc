#include "kube/rest_client.h"

#include <openssl/ssl.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <cstdint>
#include <limits>
#include <vector>

#include "kube/files.h"
#include "kube/https_connection.h"
#include "kube/server_url.h"
#include "kube/token_source.h"

namespace sluice::kube {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using internal::HttpsConnection;
using internal::SteadyTime;

namespace {

constexpr uint32_t kMaxHeaderBytes = 64 << 10;
constexpr size_t kMaxErrorBodyBytes = 1 << 20;  // a non-200 answer to a watch

// A request target is sent verbatim on the request line: no spaces or control bytes.
bool is_valid_path(const std::string& path) {
  if (path.empty() || path.front() != '/') return false;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

bool is_valid_header_value(const std::string& value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

Response make_response(int status, std::string body) {
  Response out;
  out.status = status;
  out.body = std::move(body);
  if (!out.body.empty()) {
    out.json = nlohmann::json::parse(out.body, nullptr, /*allow_exceptions=*/false);
    if (out.json.is_discarded()) out.json = nullptr;
  }
  return out;
}

SteadyTime deadline_after(Duration d) { return std::chrono::steady_clock::now() + d; }

}  // namespace

const char* patch_content_type(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

struct RestClient::Impl {
  Impl(ClusterConfig c, RestClientOptions o, ServerUrl s)
      : config(std::move(c)),
        options(std::move(o)),
        server(std::move(s)),
        tokens(config.token, config.token_file) {}

  ClusterConfig config;
  RestClientOptions options;
  ServerUrl server;
  std::string verify_name;  // tls_server_name, else the URL's host
  bool client_certificate = false;
  ssl::context tls{ssl::context::tls_client};
  TokenSource tokens;

  Result<http::request<http::string_body>> make_request(http::verb verb, const std::string& path,
                                                        const std::string& body,
                                                        const std::string& content_type) {
    if (!is_valid_path(path)) {
      return invalid_argument("bad request path (must start with '/', no spaces): " + path);
    }
    http::request<http::string_body> req{verb, server.base_path + path, 11};
    req.set(http::field::host, server.authority());
    req.set(http::field::user_agent, options.user_agent);
    req.set(http::field::accept, "application/json");
    req.set(http::field::connection, "close");
    if (!client_certificate) {
      auto token = tokens.token();
      if (!token) {
        return Status(token.status().code(), config.source + ": " + token.status().message());
      }
      if (!token->empty()) req.set(http::field::authorization, "Bearer " + *token);
    }
    if (!body.empty()) {
      if (!is_valid_header_value(content_type)) return invalid_argument("bad content type");
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    return req;
  }

  // Opens a connection and sends `req`; `status` says how that went. The connection is returned
  // either way, so that a watch can tell a stop (stopped()) from a failure.
  std::unique_ptr<HttpsConnection> send(const http::request<http::string_body>& req,
                                        SteadyTime deadline, const std::atomic<bool>* stop,
                                        Status& status) {
    auto conn = std::make_unique<HttpsConnection>(tls, server, verify_name);
    status = conn->open(deadline, options.timeout, stop);
    if (!status) return conn;
    auto r = conn->run(deadline, stop, [&](auto handler) {
      http::async_write(conn->stream(), req, handler);
    });
    status = conn->describe("send request to", r, options.timeout);
    return conn;
  }
};

RestClient::RestClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RestClient::~RestClient() = default;

const ClusterConfig& RestClient::config() const { return impl_->config; }
const RestClientOptions& RestClient::options() const { return impl_->options; }

Result<std::unique_ptr<RestClient>> RestClient::create(ClusterConfig config,
                                                       RestClientOptions options) {
  const std::string source = config.source.empty() ? "Kubernetes client" : config.source;
  auto server = parse_server_url(config.server);
  if (!server) return invalid_argument(source + ": " + server.status().message());
  if (options.timeout <= Duration::zero()) {
    return invalid_argument(source + ": the request timeout must be positive");
  }
  if (options.user_agent.empty() || !is_valid_header_value(options.user_agent)) {
    return invalid_argument(source + ": bad user agent");
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return invalid_argument(source + ": a client certificate needs both a certificate and a key");
  }
  if (!config.token.empty() && !is_valid_token(config.token)) {
    return invalid_argument(source + ": the token holds whitespace or control characters");
  }
  auto impl = std::make_unique<Impl>(std::move(config), std::move(options), std::move(*server));
  const ClusterConfig& c = impl->config;
  impl->verify_name = c.tls_server_name.empty() ? impl->server.host : c.tls_server_name;
  impl->client_certificate = !c.client_cert_pem.empty();

  ssl::context& tls = impl->tls;
  if (SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION) != 1) {
    return internal_error(source + ": cannot require TLS 1.2");
  }
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  tls.set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (!c.ca_pem.empty()) {
    tls.add_certificate_authority(asio::buffer(c.ca_pem), ec);
    if (ec) return invalid_argument(source + ": certificate authority: " + ec.message());
  } else {
    tls.set_default_verify_paths(ec);
    if (ec) return internal_error(source + ": the system certificate store: " + ec.message());
  }
  if (impl->client_certificate) {
    tls.use_certificate_chain(asio::buffer(c.client_cert_pem), ec);
    if (ec) return invalid_argument(source + ": client certificate: " + ec.message());
    tls.use_private_key(asio::buffer(c.client_key_pem), ssl::context::pem, ec);
    if (ec) return invalid_argument(source + ": client key: " + ec.message());
    if (SSL_CTX_check_private_key(tls.native_handle()) != 1) {
      return invalid_argument(source + ": the client key does not match the client certificate");
    }
  } else if (!c.token_file.empty()) {
    if (auto token = impl->tokens.token(); !token) {
      return Status(token.status().code(), source + ": " + token.status().message());
    }
  }
  return std::unique_ptr<RestClient>(new RestClient(std::move(impl)));
}

Result<Response> RestClient::get(const std::string& path) { return request("GET", path, "", ""); }

Result<Response> RestClient::del(const std::string& path) {
  return request("DELETE", path, "", "");
}

Result<Response> RestClient::post(const std::string& path, const nlohmann::json& body) {
  try {
    return request("POST", path, body.dump(), "application/json");
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("request body: ") + e.what());  // invalid UTF-8
  }
}

Result<Response> RestClient::put(const std::string& path, const nlohmann::json& body) {
  try {
    return request("PUT", path, body.dump(), "application/json");
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("request body: ") + e.what());
  }
}

Result<Response> RestClient::patch(const std::string& path, const std::string& body,
                                   PatchType type) {
  return request("PATCH", path, body, patch_content_type(type));
}

Result<Response> RestClient::request(const std::string& method, const std::string& path,
                                     const std::string& body, const std::string& content_type) {
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return invalid_argument("unknown HTTP method " + method);
  auto req = impl_->make_request(verb, path, body, content_type);
  if (!req) return req.status();
  const Duration timeout = impl_->options.timeout;
  const SteadyTime deadline = deadline_after(timeout);
  Status status;
  auto conn = impl_->send(*req, deadline, nullptr, status);
  if (!status) return status;

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  parser.body_limit(kMaxResponseBodyBytes);
  const auto too_large = [&] {
    return unavailable("read response from " + impl_->server.origin() + ": body larger than " +
                       std::to_string(kMaxResponseBodyBytes >> 20) + " MiB");
  };
  auto r = conn->run(deadline, nullptr, [&](auto handler) {
    http::async_read_header(conn->stream(), buffer, parser, handler);
  });
  // Beast checks a declared Content-Length against the limit with the header, before the body.
  if (r.outcome == HttpsConnection::Outcome::kDone && r.ec == http::error::body_limit) {
    return too_large();
  }
  if (Status s = conn->describe("read response from", r, timeout); !s) return s;
  if (!parser.is_done()) {
    r = conn->run(deadline, nullptr, [&](auto handler) {
      http::async_read(conn->stream(), buffer, parser, handler);
    });
    if (r.outcome == HttpsConnection::Outcome::kDone && r.ec == http::error::body_limit) {
      return too_large();
    }
    if (Status s = conn->describe("read response from", r, timeout); !s) return s;
  }
  return make_response(static_cast<int>(parser.get().result_int()),
                       std::move(parser.get().body()));
}

namespace {

// Splits the watch body into lines and hands each event on. Incomplete lines wait for more bytes.
class WatchLines {
 public:
  WatchLines(const std::string& what, const std::function<bool(const nlohmann::json&)>& on_event)
      : what_(what), on_event_(on_event) {}

  // Adds bytes; delivers every complete line. OK with *more=false when on_event asked to stop.
  Status add(const char* data, size_t size, bool* more) {
    pending_.append(data, size);
    *more = true;
    size_t start = 0;
    for (;;) {
      const size_t newline = pending_.find('\n', scanned_);
      if (newline == std::string::npos) break;
      Status s = deliver(std::string_view(pending_).substr(start, newline - start), more);
      start = scanned_ = newline + 1;
      if (!s || !*more) return s;
    }
    pending_.erase(0, start);
    scanned_ = pending_.size();
    if (pending_.size() > kMaxWatchLineBytes) {
      return unavailable(what_ + ": an event is longer than " +
                         std::to_string(kMaxWatchLineBytes >> 20) + " MiB");
    }
    return Status::ok();
  }

  // The stream ended: a last line without '\n' is still an event.
  Status finish() {
    bool more = true;
    return deliver(pending_, &more);
  }

 private:
  Status deliver(std::string_view line, bool* more) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) return Status::ok();
    ++events_;
    auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded() || !event.is_object()) {
      return unavailable(what_ + ": event " + std::to_string(events_) + " is not a JSON object");
    }
    const auto type = event.find("type");
    if (type != event.end() && type->is_string() && type->get<std::string>() == "ERROR") {
      Response status_object;
      status_object.json = event.value("object", nlohmann::json());
      const auto code = status_object.json.is_object() ? status_object.json.find("code")
                                                       : status_object.json.end();
      status_object.status =
          code != status_object.json.end() && code->is_number_integer() ? code->get<int>() : 500;
      if (status_object.ok()) status_object.status = 500;
      const Status s = status_object.to_status();
      return Status(s.code(), what_ + ": " + s.message());
    }
    *more = on_event_(event);
    return Status::ok();
  }

  const std::string& what_;
  const std::function<bool(const nlohmann::json&)>& on_event_;
  std::string pending_;
  size_t scanned_ = 0;  // pending_[0, scanned_) holds no '\n'
  uint64_t events_ = 0;
};

}  // namespace

Status RestClient::watch(const std::string& path,
                         const std::function<bool(const nlohmann::json&)>& on_event,
                         const std::atomic<bool>& stop, Duration idle_timeout) {
  const std::string what = "watch " + path;
  if (stop.load()) return Status::ok();
  auto req = impl_->make_request(http::verb::get, path, "", "");
  if (!req) return req.status();
  const Duration timeout = impl_->options.timeout;
  const SteadyTime deadline = deadline_after(timeout);
  Status status;
  auto conn = impl_->send(*req, deadline, &stop, status);
  if (conn->stopped()) return Status::ok();
  if (!status) return Status(status.code(), what + ": " + status.message());

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.header_limit(kMaxHeaderBytes);
  // A watch is open-ended; each line is bounded instead. Not boost::none: Beast 1.74 compares a
  // Content-Length against an empty optional and reports every such body as over the limit.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  auto r = conn->run(deadline, &stop, [&](auto handler) {
    http::async_read_header(conn->stream(), buffer, parser, handler);
  });
  if (conn->stopped()) return Status::ok();
  if (Status s = conn->describe("read response from", r, timeout); !s) {
    return Status(s.code(), what + ": " + s.message());
  }

  std::vector<char> chunk(64 << 10);
  const int http_status = static_cast<int>(parser.get().result_int());
  if (http_status != 200) {
    // Read the Status object that explains the refusal, within the request's deadline.
    std::string body;
    while (!parser.is_done() && body.size() < kMaxErrorBodyBytes) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      r = conn->run(deadline, &stop, [&](auto handler) {
        http::async_read_some(conn->stream(), buffer, parser, handler);
      });
      body.append(chunk.data(), chunk.size() - parser.get().body().size);
      if (r.outcome != HttpsConnection::Outcome::kDone) break;
      if (r.ec && r.ec != http::error::need_buffer) break;
    }
    const Status s = make_response(http_status, std::move(body)).to_status();
    if (s.is_ok()) return unavailable(what + ": unexpected HTTP " + std::to_string(http_status));
    return Status(s.code(), what + ": " + s.message());
  }

  WatchLines lines(what, on_event);
  for (;;) {
    if (stop.load()) return Status::ok();
    if (parser.is_done()) return lines.finish();
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    r = conn->run(deadline_after(idle_timeout), &stop, [&](auto handler) {
      http::async_read_some(conn->stream(), buffer, parser, handler);
    });
    if (conn->stopped()) return Status::ok();
    if (r.outcome == HttpsConnection::Outcome::kTimedOut) {
      return Status(StatusCode::kDeadlineExceeded,
                    what + ": no data from " + impl_->server.origin() + " for " +
                        std::to_string(idle_timeout.count()) + " ms");
    }
    const size_t received = chunk.size() - parser.get().body().size;
    bool more = true;
    if (Status s = lines.add(chunk.data(), received, &more); !s || !more) return s;
    if (r.ec && r.ec != http::error::need_buffer) {
      return unavailable(what + ": read from " + impl_->server.origin() + ": " + r.ec.message());
    }
  }
}

}  // namespace sluice::kube
