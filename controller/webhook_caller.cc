#include "controller/webhook_caller.h"

#include "base/http_client.h"
#include "base/redact.h"

namespace sluice::controller {

namespace {

// The URL (and any credentials in it) out of an error text: a parse error may quote it.
std::string without_url(std::string text, const std::string& url) {
  if (!url.empty()) {
    for (size_t at = text.find(url); at != std::string::npos; at = text.find(url, at)) {
      text.replace(at, url.size(), "<webhook url>");
    }
  }
  return redact_urls_in(text);
}

}  // namespace

void HttpWebhookCaller::call(const WebhookCallSpec& spec,
                             std::function<void(WebhookAnswer)> done) {
  HttpRequest request;
  request.method = "POST";
  request.url = spec.url;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = spec.body;
  request.timeout = spec.timeout;
  request.max_body_bytes = kWebhookBodyLimit;
  http_fetch(executor_, std::move(request),
             [done = std::move(done), url = spec.url](Result<HttpResponse> response) {
               WebhookAnswer answer;
               if (response) {
                 answer.status = response->status;
                 answer.body = std::move(response->body);
               } else {
                 answer.error = without_url(response.status().message(), url);
               }
               done(std::move(answer));
             });
}

}  // namespace sluice::controller
