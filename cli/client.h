// The CLI's HTTP client for the Sluice API (Beast, one connection per call, loopback or any
// http:// server). Every call has a deadline; nothing here prints.
//
// Not thread-safe: one ApiClient per thread. Tokens are sent as "Authorization: Bearer" and
// never appear in returned messages.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/status.h"

namespace sluice::cli {

struct ServerAddress {
  std::string host;
  std::string port;
};
// Accepts "http://host:port", "http://host" (port 80), "host:port". https is not supported.
Result<ServerAddress> parse_server_url(const std::string& url);

struct HttpReply {
  int status = 0;
  std::string body;
  nlohmann::json json;  // parsed body, or null when it is not JSON
  // The API's error sentence ({"error": ...}) or "HTTP <status>".
  std::string error_message() const;
};

class ApiClient {
 public:
  ApiClient(std::string server_url, std::string token, Duration timeout = Duration(30'000));

  // Transport failures (unreachable, timeout) are Unavailable/DeadlineExceeded errors; any HTTP
  // status, including 4xx/5xx, is a reply.
  Result<HttpReply> get(const std::string& target);
  Result<HttpReply> post(const std::string& target, const std::string& body = "");

  // Reads Server-Sent Events from `target` (a ?watch=1 URL), calling on_event with each data
  // payload (parsed JSON) until on_event returns false, the server closes the stream, or
  // `max_wait` passes without any frame (heartbeats count). Returns the last event id seen.
  // On a non-200 answer returns an error carrying the API's message.
  Result<uint64_t> stream_events(const std::string& target, uint64_t last_event_id,
                                 const std::function<bool(const nlohmann::json&)>& on_event,
                                 Duration max_wait);

  // Reads a close-delimited text stream from `target` (logs?follow=1), calling on_text with
  // each chunk as it arrives until on_text returns false, the server closes the stream, or
  // `max_wait` passes without any byte. On a non-200 answer returns an error carrying the
  // API's message (last_stream_status() tells the status).
  Status stream_text(const std::string& target,
                     const std::function<bool(std::string_view)>& on_text, Duration max_wait);

  // The HTTP status of the last non-2xx stream answer (for exit codes); 0 when none.
  int last_stream_status() const { return last_stream_status_; }

 private:
  Result<HttpReply> request(const std::string& method, const std::string& target,
                            const std::string& body);

  std::string server_url_;
  std::string token_;
  Duration timeout_;
  int last_stream_status_ = 0;
};

}  // namespace sluice::cli
