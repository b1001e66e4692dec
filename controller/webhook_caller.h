// Gate webhooks' outside call (spec.webhooks): the controller decides which calls happen
// (strategies::Decision::webhook_calls, controller/webhook_calls.cc) and hands each to a
// WebhookCaller, which POSTs it off the controller strand.
//
// Contract: `done` runs exactly once, on any thread (the controller posts it to its scheduler),
// within about spec.timeout. An answer that is not an HTTP response (refused, timed out, bad URL)
// has status 0 and `error` set. Neither the error nor anything else an implementation logs may
// contain the URL: it may carry a token.
#pragma once

#include <functional>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "base/clock.h"

namespace sluice::controller {

struct WebhookCallSpec {
  std::string url;
  std::string body;  // JSON
  Duration timeout{10'000};
};

struct WebhookAnswer {
  int status = 0;     // HTTP status; 0 = no answer (see error)
  std::string body;   // at most kWebhookBodyLimit bytes were read
  std::string error;  // why there is no answer
};

inline constexpr size_t kWebhookBodyLimit = 64 * 1024;

class WebhookCaller {
 public:
  virtual ~WebhookCaller() = default;
  virtual void call(const WebhookCallSpec& spec, std::function<void(WebhookAnswer)> done) = 0;
};

// POSTs with base/http_client.h (application/json) on `executor` (serve's I/O context, never
// the controller strand). Thread-safe.
class HttpWebhookCaller : public WebhookCaller {
 public:
  explicit HttpWebhookCaller(boost::asio::any_io_executor executor)
      : executor_(std::move(executor)) {}
  void call(const WebhookCallSpec& spec, std::function<void(WebhookAnswer)> done) override;

 private:
  boost::asio::any_io_executor executor_;
};

}  // namespace sluice::controller
