#include "base/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <type_traits>

#include "base/redact.h"
#include "base/tls_client.h"

namespace sluice {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Result<ParsedUrl> parse_http_url(const std::string& url) {
  const std::string shown = redact_url(url);  // messages reach measurements, events and the API
  ParsedUrl out;
  out.tls = url.rfind("https://", 0) == 0;
  const std::string scheme = out.tls ? "https://" : "http://";
  if (url.rfind(scheme, 0) != 0) {
    return invalid_argument("URL must start with http:// or https://: " + shown);
  }
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!out.target.empty() && out.target[0] == '?') out.target = "/" + out.target;
  if (authority.find('@') != std::string::npos) {
    return invalid_argument("credentials in URLs are not supported: use the provider's fields");
  }
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return invalid_argument("bad IPv6 host in URL: " + shown);
    out.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty() && after[0] == ':') out.port = after.substr(1);
  } else {
    const size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) out.port = authority.substr(colon + 1);
  }
  if (out.port.empty()) out.port = out.tls ? "443" : "80";
  if (out.host.empty()) return invalid_argument("URL has no host: " + shown);
  for (char c : out.port) {
    if (c < '0' || c > '9') return invalid_argument("bad port in URL: " + shown);
  }
  return out;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string base64_encode(const std::string& s) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  while (i + 2 < s.size()) {
    const unsigned v = (static_cast<unsigned char>(s[i]) << 16) |
                       (static_cast<unsigned char>(s[i + 1]) << 8) |
                       static_cast<unsigned char>(s[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
    i += 3;
  }
  if (i + 1 == s.size()) {
    const unsigned v = static_cast<unsigned char>(s[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == s.size()) {
    const unsigned v =
        (static_cast<unsigned char>(s[i]) << 16) | (static_cast<unsigned char>(s[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

namespace {

// One exchange over `Stream` (tcp::socket for http, TlsStream for https). Owns itself through
// shared_from_this until the callback has run.
template <typename Stream>
class Exchange : public std::enable_shared_from_this<Exchange<Stream>> {
 public:
  // `tls`: the context of an https exchange (null for http); kept for the stream's lifetime.
  Exchange(const asio::any_io_executor& ex, HttpRequest req, ParsedUrl url, HttpCallback done,
           std::shared_ptr<asio::ssl::context> tls)
      : tls_(std::move(tls)),
        resolver_(ex),
        stream_(make_stream(ex, tls_.get())),
        deadline_(ex),
        req_(std::move(req)),
        url_(std::move(url)),
        done_(std::move(done)) {}

  void start() {
    deadline_.expires_after(std::chrono::milliseconds(req_.timeout.count()));
    deadline_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::error_code ignored;
      self->socket().close(ignored);
    });
    resolver_.async_resolve(url_.host, url_.port,
                            [self = this->shared_from_this()](
                                beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolve(ec, std::move(results));
                            });
  }

 private:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  static Stream make_stream(const asio::any_io_executor& ex, asio::ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(ex, *tls);
    } else {
      (void)tls;
      return Stream(ex);
    }
  }

  tcp::socket& socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }
  std::string origin() const { return url_.host + ":" + url_.port; }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return fail("resolve " + url_.host, ec);
    asio::async_connect(socket(), results,
                        [self = this->shared_from_this()](beast::error_code e,
                                                          const tcp::endpoint&) {
                          self->on_connect(e);
                        });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect to " + origin(), ec);
    if constexpr (kTls) {
      if (Status st = prepare_verified_stream(stream_, url_.host, &mismatch_detail_);
          !st.is_ok()) {
        return finish(unavailable("TLS handshake with " + origin() + ": " + st.message()));
      }
      stream_.async_handshake(asio::ssl::stream_base::client,
                              [self = this->shared_from_this()](beast::error_code e) {
                                if (e && !self->timed_out_) {
                                  return self->finish(unavailable(
                                      "TLS handshake with " + self->origin() + ": " +
                                      handshake_failure_cause(self->stream_, e,
                                                              self->mismatch_detail_)));
                                }
                                if (e) return self->fail("TLS handshake with " + self->origin(), e);
                                self->send();
                              });
    } else {
      send();
    }
  }

  void send() {
    const auto verb = http::string_to_verb(req_.method);
    if (verb == http::verb::unknown) return finish(invalid_argument("bad method " + req_.method));
    request_.method(verb);
    request_.target(url_.target);
    request_.version(11);
    const bool default_port = url_.port == (url_.tls ? "443" : "80");
    request_.set(http::field::host, default_port ? url_.host : origin());
    request_.set(http::field::user_agent, "sluice");
    request_.set(http::field::connection, "close");
    for (const auto& [name, value] : req_.headers) request_.set(name, value);
    if (!req_.body.empty() || verb == http::verb::post) {
      request_.body() = req_.body;
      request_.prepare_payload();
    }
    http::async_write(stream_, request_,
                      [self = this->shared_from_this()](beast::error_code e, size_t) {
                        self->on_write(e);
                      });
  }

  void on_write(beast::error_code ec) {
    if (ec) return fail("send request", ec);
    parser_.body_limit(req_.max_body_bytes);
    http::async_read_header(
        stream_, buffer_, parser_,
        [self = this->shared_from_this()](beast::error_code e, size_t) { self->on_header(e); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    // Beast 1.74 does not apply body_limit to a Content-Length body on this path: check here.
    if (auto len = parser_.content_length(); len && *len > req_.max_body_bytes) {
      return on_read(http::error::body_limit);
    }
    http::async_read(
        stream_, buffer_, parser_,
        [self = this->shared_from_this()](beast::error_code e, size_t) { self->on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return finish(unavailable("response body larger than " + std::to_string(req_.max_body_bytes) +
                                " bytes"));
    }
    // A TLS server that closes without close_notify after a complete response (Connection:
    // close) is common and harmless here: the parser saw the whole message.
    if (ec && !(kTls && ec == asio::ssl::error::stream_truncated && parser_.is_done())) {
      return fail("read response", ec);
    }
    HttpResponse r;
    auto& msg = parser_.get();
    r.status = static_cast<int>(msg.result_int());
    r.content_type = std::string(msg[http::field::content_type]);
    r.body = std::move(msg.body());
    beast::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    finish(std::move(r));
  }

  void fail(const std::string& what, beast::error_code ec) {
    if (timed_out_) {
      return finish(
          Status(StatusCode::kDeadlineExceeded,
                 "timed out after " + std::to_string(req_.timeout.count()) + "ms (" + what + ")"));
    }
    finish(unavailable(what + ": " + ec.message()));
  }

  void finish(Result<HttpResponse> r) {
    if (finished_) return;
    finished_ = true;
    deadline_.cancel();
    beast::error_code ignored;
    socket().close(ignored);
    done_(std::move(r));
  }

  std::shared_ptr<asio::ssl::context> tls_;  // before stream_: outlives it
  tcp::resolver resolver_;
  Stream stream_;
  asio::steady_timer deadline_;
  beast::flat_buffer buffer_;
  HttpRequest req_;
  ParsedUrl url_;
  HttpCallback done_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  std::string mismatch_detail_;
  bool finished_ = false;
  bool timed_out_ = false;
};

}  // namespace

void http_fetch(const asio::any_io_executor& executor, HttpRequest request, HttpCallback done) {
  auto url = parse_http_url(request.url);
  if (!url) {
    asio::post(executor, [done = std::move(done), s = url.status()]() { done(s); });
    return;
  }
  try {
    if (url->tls) {
      auto tls = make_client_tls_context(request.ca_file);
      if (!tls) {
        asio::post(executor, [done = std::move(done), s = tls.status()]() { done(s); });
        return;
      }
      auto ex = std::make_shared<Exchange<TlsStream>>(
          executor, std::move(request), std::move(url).value(), std::move(done),
          std::move(tls).value());
      ex->start();
    } else {
      auto ex = std::make_shared<Exchange<tcp::socket>>(
          executor, std::move(request), std::move(url).value(), std::move(done), nullptr);
      ex->start();
    }
  } catch (const std::exception& e) {
    // Asio reports resource exhaustion (no file descriptors) by throwing at construction.
    asio::post(executor, [done, what = std::string(e.what())]() {
      done(unavailable(std::string("http client: ") + what));
    });
  }
}

}  // namespace sluice
