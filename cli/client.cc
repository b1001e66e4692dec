#include "cli/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/redact.h"

namespace sluice::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Runs one asynchronous operation to completion on `ioc` and returns its error code. The
// tcp_stream's expiry turns a hung peer into beast::error::timeout.
template <typename Start>
beast::error_code run_op(asio::io_context& ioc, Start&& start) {
  beast::error_code result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

Status transport_error(const std::string& what, const beast::error_code& ec,
                       const std::string& server_url) {
  const std::string server = redact_url(server_url);
  if (ec == beast::error::timeout)
    return Status(StatusCode::kDeadlineExceeded, what + " " + server + ": timed out");
  return unavailable(what + " " + server + ": " + ec.message());
}

// A connected stream to the server, or an error.
Result<bool> connect(asio::io_context& ioc, beast::tcp_stream& stream, const ServerAddress& addr,
                     Duration timeout, const std::string& url) {
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints = resolver.resolve(addr.host, addr.port, ec);
  if (ec) return transport_error("cannot resolve", ec, url);
  stream.expires_after(timeout);
  ec = run_op(ioc, [&](auto handler) { stream.async_connect(endpoints, handler); });
  if (ec) return transport_error("cannot connect to", ec, url);
  return true;
}

http::request<http::string_body> make_request(http::verb verb, const std::string& target,
                                              const ServerAddress& addr, const std::string& token,
                                              const std::string& body) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, addr.host + ":" + addr.port);
  req.set(http::field::user_agent, "sluice-cli");
  req.set(http::field::accept, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  return req;
}

// The start of a streamed GET (events, logs): the request is sent and the answer's header read
// into `parser` (bytes past it stay in `buffer`). A non-200 answer is read whole and returned
// as the error its JSON body names, its status in `error_status`.
Status open_stream(asio::io_context& ioc, beast::tcp_stream& stream, beast::flat_buffer& buffer,
                   http::response_parser<http::string_body>& parser,
                   http::request<http::string_body>& req, Duration timeout,
                   const std::string& server_url, int& error_status) {
  stream.expires_after(timeout);
  auto ec = run_op(ioc, [&](auto handler) { http::async_write(stream, req, handler); });
  if (ec) return transport_error("cannot send to", ec, server_url);
  stream.expires_after(timeout);
  ec = run_op(ioc, [&](auto handler) { http::async_read_header(stream, buffer, parser, handler); });
  if (ec) return transport_error("no answer from", ec, server_url);
  const int status = static_cast<int>(parser.get().result_int());
  if (status == 200) return Status::ok();
  error_status = status;
  // Error answers carry a JSON body with a Content-Length: read it for the message.
  stream.expires_after(timeout);
  ec = run_op(ioc, [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
  HttpReply reply;
  reply.status = status;
  reply.json = nlohmann::json::parse(parser.get().body(), nullptr, false);
  if (reply.json.is_discarded()) reply.json = nullptr;
  return Status(status == 404   ? StatusCode::kNotFound
                : status == 401 ? StatusCode::kUnauthenticated
                : status == 403 ? StatusCode::kPermissionDenied
                                : StatusCode::kInternal,
                reply.error_message());
}

}  // namespace

Result<ServerAddress> parse_server_url(const std::string& url) {
  std::string rest = url;
  const std::string shown = redact_url(url);
  if (rest.rfind("https://", 0) == 0)
    return invalid_argument("https is not supported by this client: " + shown);
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  if (size_t slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  if (rest.empty()) return invalid_argument("bad server URL: '" + shown + "'");
  ServerAddress out;
  if (rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return invalid_argument("bad server URL: '" + shown + "'");
    out.host = rest.substr(1, close - 1);
    out.port = close + 2 <= rest.size() && rest[close + 1] == ':' ? rest.substr(close + 2) : "80";
  } else if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    out.host = rest.substr(0, colon);
    out.port = rest.substr(colon + 1);
  } else {
    out.host = rest;
    out.port = "80";
  }
  if (out.host.empty() || out.port.empty())
    return invalid_argument("bad server URL: '" + shown + "'");
  return out;
}

std::string HttpReply::error_message() const {
  if (json.is_object() && json.contains("error") && json["error"].is_string())
    return json["error"].get<std::string>();
  return "HTTP " + std::to_string(status);
}

ApiClient::ApiClient(std::string server_url, std::string token, Duration timeout)
    : server_url_(std::move(server_url)), token_(std::move(token)), timeout_(timeout) {}

Result<HttpReply> ApiClient::get(const std::string& target) { return request("GET", target, ""); }

Result<HttpReply> ApiClient::post(const std::string& target, const std::string& body) {
  return request("POST", target, body);
}

Result<HttpReply> ApiClient::request(const std::string& method, const std::string& target,
                                     const std::string& body) {
  auto addr = parse_server_url(server_url_);
  if (!addr.is_ok()) return addr.status();
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  if (auto c = connect(ioc, stream, *addr, timeout_, server_url_); !c.is_ok()) return c.status();
  auto req = make_request(method == "POST" ? http::verb::post : http::verb::get, target, *addr,
                          token_, body);
  stream.expires_after(timeout_);
  auto ec = run_op(ioc, [&](auto handler) { http::async_write(stream, req, handler); });
  if (ec) return transport_error("cannot send to", ec, server_url_);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  stream.expires_after(timeout_);
  ec = run_op(ioc, [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
  if (ec) return transport_error("no answer from", ec, server_url_);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  HttpReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  reply.json = nlohmann::json::parse(reply.body, nullptr, false);
  if (reply.json.is_discarded()) reply.json = nullptr;
  return reply;
}

Result<uint64_t> ApiClient::stream_events(
    const std::string& target, uint64_t last_event_id,
    const std::function<bool(const nlohmann::json&)>& on_event, Duration max_wait) {
  last_stream_status_ = 0;
  auto addr = parse_server_url(server_url_);
  if (!addr.is_ok()) return addr.status();
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  if (auto c = connect(ioc, stream, *addr, timeout_, server_url_); !c.is_ok()) return c.status();
  auto req = make_request(http::verb::get, target, *addr, token_, "");
  req.set(http::field::accept, "text/event-stream");
  if (last_event_id > 0) req.set("Last-Event-ID", std::to_string(last_event_id));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  if (auto opened = open_stream(ioc, stream, buffer, parser, req, timeout_, server_url_,
                                last_stream_status_);
      !opened.is_ok()) {
    return opened;
  }
  beast::error_code ec;
  // The body is an open-ended text/event-stream: parse frames by hand from the raw bytes.
  std::string pending(static_cast<const char*>(buffer.data().data()), buffer.size());
  buffer.consume(buffer.size());
  uint64_t last_id = last_event_id;
  std::array<char, 4096> chunk{};
  for (;;) {
    size_t end;
    while ((end = pending.find("\n\n")) != std::string::npos) {
      std::string frame = pending.substr(0, end);
      pending.erase(0, end + 2);
      std::string data;
      size_t pos = 0;
      while (pos < frame.size()) {
        size_t nl = frame.find('\n', pos);
        if (nl == std::string::npos) nl = frame.size();
        std::string line = frame.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.rfind("id: ", 0) == 0)
          last_id = std::strtoull(line.c_str() + 4, nullptr, 10);
        else if (line.rfind("data: ", 0) == 0)
          data += line.substr(6);
      }
      if (data.empty()) continue;
      auto event = nlohmann::json::parse(data, nullptr, false);
      if (event.is_discarded()) continue;
      if (!on_event(event)) return last_id;
    }
    stream.expires_after(max_wait);
    size_t n = 0;
    ec = run_op(ioc, [&](auto handler) {
      stream.async_read_some(asio::buffer(chunk), [&n, handler](beast::error_code e, size_t got) {
        n = got;
        handler(e);
      });
    });
    if (ec == beast::error::timeout) return last_id;  // quiet for max_wait
    if (ec) return last_id;                           // server closed the stream
    pending.append(chunk.data(), n);
  }
}

Status ApiClient::stream_text(const std::string& target,
                              const std::function<bool(std::string_view)>& on_text,
                              Duration max_wait) {
  last_stream_status_ = 0;
  auto addr = parse_server_url(server_url_);
  if (!addr.is_ok()) return addr.status();
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  if (auto c = connect(ioc, stream, *addr, timeout_, server_url_); !c.is_ok()) return c.status();
  auto req = make_request(http::verb::get, target, *addr, token_, "");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  if (auto opened = open_stream(ioc, stream, buffer, parser, req, timeout_, server_url_,
                                last_stream_status_);
      !opened.is_ok()) {
    return opened;
  }
  beast::error_code ec;
  // The body runs until the server closes: read raw bytes past the parsed header.
  if (buffer.size() > 0) {
    const std::string_view first(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (!on_text(first)) return Status::ok();
    buffer.consume(buffer.size());
  }
  std::array<char, 4096> chunk{};
  for (;;) {
    stream.expires_after(max_wait);
    size_t n = 0;
    ec = run_op(ioc, [&](auto handler) {
      stream.async_read_some(asio::buffer(chunk), [&n, handler](beast::error_code e, size_t got) {
        n = got;
        handler(e);
      });
    });
    if (ec) return Status::ok();  // closed by the server, or quiet for max_wait
    if (!on_text(std::string_view(chunk.data(), n))) return Status::ok();
  }
}

}  // namespace sluice::cli
