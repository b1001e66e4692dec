// libFuzzer target for the HTTP routes: the input is a raw HTTP/1.1 request. Whatever Beast's
// parser accepts goes through handle() (with auth enabled half of the time), deferred verbs are
// run to completion, and every response must carry a valid status and, for errors, JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "api/request_guard.h"
#include "api/router.h"

namespace {

using nlohmann::json;
using namespace sluice;

// A tiny in-file facade: the fuzz build links sluice_api only.
class StaticFacade final : public controller::ControlFacade {
 public:
  json list_rollouts() const override { return {{"items", json::array({rollout()})}}; }
  std::optional<json> get_rollout(const std::string& name) const override {
    if (name != "orders-api") return std::nullopt;
    return rollout();
  }
  std::optional<json> history(const std::string& name) const override {
    if (name != "orders-api") return std::nullopt;
    return json{{"items", json::array()}};
  }
  json events(const std::string&, uint64_t) const override { return {{"items", json::array()}}; }
  std::unique_ptr<controller::Subscription> subscribe(const std::string&,
                                                      controller::EventCallback) override {
    return nullptr;
  }
  void command(const controller::VerbRequest& req, controller::VerbCallback done) override {
    if (req.verb == controller::Verb::kRetry) return done(failed_precondition("not aborted"));
    done(rollout());
  }
  json source() const override { return {{"repo", "x"}, {"error", nullptr}}; }
  void sync(std::function<void(Result<json>)> done) override { done(json::object()); }
  void request_refresh(const std::string&) override {}
  bool ready() const override { return true; }
  std::string metrics_text() const override { return ""; }

 private:
  static json rollout() { return {{"name", "orders-api"}, {"phase", "Paused"}}; }
};

void check(const api::Response& res) {
  unsigned code = res.result_int();
  if (code < 200 || code > 599) std::abort();
  if (code >= 400) {
    auto body = json::parse(res.body(), nullptr, false);
    if (!body.is_object() || !body.contains("error") || !body.contains("code")) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static StaticFacade facade;
  static api::Authenticator no_auth;
  static api::Authenticator with_auth = [] {
    api::Authenticator a;
    (void)a.add_token("fuzz-deployer-token", api::Role::kDeployer, "ci");
    return a;
  }();
  static api::WebhookSecrets webhooks{std::string("secret"), std::string("gl")};

  boost::beast::http::request_parser<boost::beast::http::string_body> parser;
  parser.eager(true);
  parser.body_limit(1 << 16);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data + 1, size - 1), ec);
  if (ec || !parser.is_done()) return 0;
  // The server's pre-routing checks (Host, Origin, Content-Type, framing) run first there too.
  static const api::HostPolicy hosts =
      api::HostPolicy::make("127.0.0.1:7070", 7070, {"sluice.example.com"}).value();
  if (auto refused = api::guard_request(parser.get(), hosts)) {
    check(*refused);
    if (data[0] & 2) return 0;  // else route it anyway, to keep the router's coverage
  }
  api::ApiContext ctx{facade, (data[0] & 1) ? with_auth : no_auth, webhooks, 1 << 12};
  api::HandleResult result = api::handle(parser.get(), ctx);
  if (auto* res = std::get_if<api::Response>(&result)) check(*res);
  if (auto* deferred = std::get_if<api::Deferred>(&result)) {
    bool answered = false;
    deferred->start([&](api::Response res) {
      answered = true;
      check(res);
    });
    if (!answered) std::abort();
  }
  return 0;
}
