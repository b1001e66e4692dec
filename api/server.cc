#include "api/server.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/auth_failure_log.h"
#include "api/request_guard.h"
#include "base/connection_slots.h"
#include "base/descriptors.h"

namespace sluice::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

class Session;

}  // namespace

struct ApiServer::Core {
  Core(asio::io_context& io, controller::ControlFacade& f, const Authenticator& a, WebhookSecrets w,
       ServerOptions o)
      : ioc(io),
        facade(f),
        auth(a),
        webhooks(std::move(w)),
        options(std::move(o)),
        ctx{facade, auth, webhooks, options.body_limit},
        acceptor(asio::make_strand(io)),
        connections(SlotCounter::make(options.max_connections, options.max_connections_per_client)),
        reserve(SlotCounter::make(options.health_reserve, 0)),
        rollout_streams(SlotCounter::make(options.max_streams, options.max_streams_per_client)),
        all_streams(SlotCounter::make(options.max_streams, options.max_streams_per_client)) {}

  asio::io_context& ioc;
  controller::ControlFacade& facade;
  const Authenticator& auth;
  WebhookSecrets webhooks;
  ServerOptions options;
  ApiContext ctx;
  HostPolicy hosts;  // set by start() before the first accept, immutable afterwards
  AuthFailureLog auth_failures;
  tcp::acceptor acceptor;
  std::atomic<bool> stopping{false};
  // The limits (server.h). A session holds one slot of `connections` or of `reserve`, and while
  // it streams one of the stream type's counter.
  std::shared_ptr<SlotCounter> connections;
  std::shared_ptr<SlotCounter> reserve;
  std::shared_ptr<SlotCounter> rollout_streams;  // GET /api/v1/rollouts/{name}/events?watch=1
  std::shared_ptr<SlotCounter> all_streams;      // GET /api/v1/rollouts?watch=1 (all rollouts)
  // GET /api/v1/stream/rollouts counts as one of the above: ?name=N as a rollout stream.

  mutable std::mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;

  std::vector<std::shared_ptr<Session>> live_sessions() {
    std::vector<std::shared_ptr<Session>> out;
    std::lock_guard lock(mu);
    for (auto& [ptr, weak] : sessions)
      if (auto s = weak.lock()) out.push_back(std::move(s));
    return out;
  }
};

namespace {

using Core = ApiServer::Core;

bool is_health_path(const Request& req) {
  std::string_view target = to_sv(req.target());
  target = target.substr(0, target.find('?'));
  return target == "/healthz" || target == "/readyz" || target == "/metrics";
}

Response too_many(std::string_view code, std::string_view why) {
  Response res = error_response(http::status::too_many_requests, code, why);
  res.set(http::field::retry_after, "1");
  return res;
}

// Counted under a valid token's name, else under the peer address.
std::string client_key(const Request& req, const Authenticator& auth, const std::string& address) {
  if (auth.enabled()) {
    auto authorization = req[http::field::authorization];
    if (!authorization.empty()) {
      if (auto identity = auth.authenticate(to_sv(authorization)); identity.is_ok())
        return "token:" + identity->name;
    }
  }
  return "addr:" + address;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `slot` is the connection's slot in core->connections, or in core->reserve when
  // `health_only`.
  Session(tcp::socket&& socket, std::shared_ptr<Core> core, std::string remote_address,
          std::unique_ptr<SlotCounter::Slot> slot, bool health_only)
      : stream_(std::move(socket)),
        core_(std::move(core)),
        heartbeat_(stream_.get_executor()),
        remote_address_(std::move(remote_address)),
        slot_(std::move(slot)),
        health_only_(health_only) {}

  ~Session() {
    std::lock_guard lock(core_->mu);
    core_->sessions.erase(this);
  }

  void run() {
    {
      std::lock_guard lock(core_->mu);
      core_->sessions.emplace(this, weak_from_this());
    }
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

  // Server shutdown, phase 1 (any thread): finish the request in flight, drop the rest.
  void stop_gracefully() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::kHandling)
        self->keep_alive_ = false;
      else
        self->close();
    });
  }
  // Server shutdown, phase 2 (any thread): close now.
  void stop_now() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

 private:
  enum class State { kReading, kHandling, kStreaming, kClosed };

  const ServerOptions& options() const { return core_->options; }

  void do_read() {
    if (core_->stopping.load()) return close();
    state_ = State::kReading;
    parser_.emplace();
    parser_->body_limit(options().body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(options().header_limit));
    stream_.expires_after(health_only_ ? std::min(options().request_timeout,
                                                  options().reserve_request_timeout)
                                       : options().request_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (state_ == State::kClosed) return;
    if (ec == http::error::body_limit) {
      head_request_ = false;
      keep_alive_ = false;
      version_ = 11;
      state_ = State::kHandling;
      return send(error_response(
          http::status::payload_too_large, "payload_too_large",
          "request body exceeds " + std::to_string(options().body_limit) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      head_request_ = false;
      keep_alive_ = false;
      version_ = 11;
      state_ = State::kHandling;
      return send(error_response(http::status::request_header_fields_too_large, "headers_too_large",
                                 "request headers too large"));
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      // Malformed (including conflicting Content-Length / Transfer-Encoding): say so, then close,
      // since where this request ends is unknown.
      head_request_ = false;
      keep_alive_ = false;
      version_ = 11;
      state_ = State::kHandling;
      return send(error_response(http::status::bad_request, "bad_request",
                                 "malformed request: " + ec.message()));
    }
    if (ec) return close();  // EOF, timeout (slowloris), reset
    state_ = State::kHandling;
    ++served_;
    Request req = parser_->release();
    version_ = req.version();
    head_request_ = req.method() == http::verb::head;
    keep_alive_ = req.keep_alive() && served_ < options().max_requests_per_connection &&
                  !core_->stopping.load();
    if (auto refused = guard_request(req, core_->hosts)) {
      keep_alive_ = false;  // a bad framing leaves the rest of the stream unreadable
      return send(std::move(*refused));
    }
    // The limits (server.h): health paths are always answered on a connection that is open.
    const bool health = is_health_path(req);
    if (health_only_) {
      keep_alive_ = false;
      if (!health)
        return send(too_many("too_many_connections",
                             "connection limit reached; only /healthz, /readyz and /metrics "
                             "are served now"));
    }
    std::string client;
    if (!health && !health_only_) {
      client = client_key(req, core_->auth, remote_address_);
      if (!slot_->move_to(client)) {
        keep_alive_ = false;
        return send(too_many("too_many_connections",
                             "too many connections from this client (at most " +
                                 std::to_string(options().max_connections_per_client) + ")"));
      }
    }
    HandleResult result = [&]() -> HandleResult {
      try {
        return handle(req, core_->ctx);
      } catch (const std::exception& e) {
        // The router should not throw; a facade bug must not take the server down.
        spdlog::error("api: handler failed: {}", e.what());
        return error_response(http::status::internal_server_error, "internal", "internal error");
      }
    }();
    if (auto* res = std::get_if<Response>(&result)) {
      if (res->result() == http::status::unauthorized) note_auth_failure(req);
      return send(std::move(*res));
    }
    if (auto* stream = std::get_if<EventStream>(&result)) {
      auto& counter = stream->rollout.empty() ? core_->all_streams : core_->rollout_streams;
      auto taken = counter->take(client);
      if (!taken.slot) {
        keep_alive_ = false;
        return send(too_many(
            "too_many_streams",
            taken.refusal == SlotCounter::Refusal::kPerKey
                ? "too many event streams of this kind from this client (at most " +
                      std::to_string(options().max_streams_per_client) + ")"
                : "too many event streams of this kind (at most " +
                      std::to_string(options().max_streams) + ")"));
      }
      stream_slot_ = std::move(taken.slot);
      return start_stream(*stream);
    }
    if (auto* logs = std::get_if<LogStream>(&result)) {
      auto taken = core_->rollout_streams->take(client);
      if (!taken.slot) {
        keep_alive_ = false;
        return send(too_many("too_many_streams",
                             "too many streams from this client or in all; try again later"));
      }
      stream_slot_ = std::move(taken.slot);
      return start_log_stream(std::move(logs->request));
    }
    start_deferred(std::get<Deferred>(std::move(result)));
  }

  // The router answers 401 synchronously (bad or missing token, bad webhook signature).
  void note_auth_failure(const Request& req) {
    std::string_view target = to_sv(req.target());
    std::string request(to_sv(req.method_string()));
    request += " ";
    request += target.substr(0, target.find('?'));  // a query may carry anything; the path not
    if (auto line = core_->auth_failures.note(remote_address_, request,
                                              std::chrono::steady_clock::now()))
      spdlog::warn("{}", *line);
  }

  void start_deferred(Deferred deferred) {
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto executor = stream_.get_executor();
    // Keep the session alive until the facade answers: hold a strong ref in the callback.
    deferred.start([self = shared_from_this(), answered, executor](Response res) {
      if (answered->exchange(true)) return;
      asio::post(executor, [self, res = std::move(res)]() mutable { self->send(std::move(res)); });
    });
  }

  void send(Response res) {
    if (state_ == State::kClosed) return;
    res.version(version_);
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    if (head_request_) {
      // HEAD: the headers of the GET answer (Content-Length included), without the body.
      auto length = res.body().size();
      res.body().clear();
      res.content_length(length);
    }
    auto message = std::make_shared<Response>(std::move(res));
    stream_.expires_after(options().write_timeout);
    http::async_write(stream_, *message,
                      [self = shared_from_this(), message](beast::error_code ec, std::size_t) {
                        self->on_write(ec, message->need_eof());
                      });
  }

  void on_write(beast::error_code ec, bool close_after) {
    if (ec || close_after || !keep_alive_) return close();
    do_read();
  }

  // --- Server-Sent Events -------------------------------------------------------------------

  void start_stream(const EventStream& request) {
    state_ = State::kStreaming;
    stream_.expires_never();
    enqueue(
        std::string("HTTP/1.1 200 OK\r\n"
                    "Content-Type: text/event-stream\r\n"
                    "Cache-Control: no-cache\r\n"
                    "Connection: close\r\n"
                    "X-Accel-Buffering: no\r\n\r\n"
                    "retry: 2000\n\n"));
    last_event_id_ = request.after_id;
    std::weak_ptr<Session> weak = weak_from_this();
    auto executor = stream_.get_executor();
    if (request.objects) return start_object_stream(request, weak, executor);
    // Subscribe before replaying so that nothing falls between the two; duplicates are dropped
    // by id in on_event(). The callback holds only a weak ref: it may run on any thread.
    subscription_ =
        core_->facade.subscribe(request.rollout, [weak, executor](const nlohmann::json& event) {
          asio::post(executor, [weak, event] {
            if (auto self = weak.lock()) self->on_event(event);
          });
        });
    nlohmann::json replay = core_->facade.events(request.rollout, request.after_id);
    if (replay.is_object() && replay.contains("items")) replay = replay["items"];
    if (replay.is_array())
      for (const auto& event : replay) on_event(event);
    arm_heartbeat();
    watch_for_disconnect();
  }

  // Watch first, then send the objects as they are now: a change published in between arrives
  // after them (posted to this executor), so the last frame is always the latest object.
  template <typename Executor>
  void start_object_stream(const EventStream& request, std::weak_ptr<Session> weak,
                           Executor executor) {
    subscription_ = core_->facade.watch_rollouts(
        request.rollout, [weak, executor](const nlohmann::json& change) {
          asio::post(executor, [weak, change] {
            if (auto self = weak.lock()) self->on_object(change);
          });
        });
    if (!request.rollout.empty()) {
      if (auto object = core_->facade.get_rollout(request.rollout))
        on_object({{"type", "ADDED"}, {"rollout", std::move(*object)}});
    } else {
      nlohmann::json list = core_->facade.list_rollouts();
      for (auto& object : list.value("items", nlohmann::json::array()))
        on_object({{"type", "ADDED"}, {"rollout", std::move(object)}});
    }
    arm_heartbeat();
    watch_for_disconnect();
  }

  void on_object(const nlohmann::json& change) {
    if (state_ != State::kStreaming) return;
    enqueue("event: rollout\ndata: " +
            change.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n");
  }

  void on_event(const nlohmann::json& event) {
    if (state_ != State::kStreaming) return;
    uint64_t id = 0;
    if (auto it = event.find("id"); it != event.end() && it->is_number_unsigned())
      id = it->get<uint64_t>();
    else if (it != event.end() && it->is_number_integer() && it->get<int64_t>() > 0)
      id = static_cast<uint64_t>(it->get<int64_t>());
    if (id != 0) {
      if (id <= last_event_id_) return;
      last_event_id_ = id;
    }
    std::string frame;
    if (id != 0) frame = "id: " + std::to_string(id) + "\n";
    frame += "data: " + event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    frame += "\n\n";
    enqueue(std::move(frame));
  }

  void arm_heartbeat() {
    heartbeat_.expires_after(options().heartbeat_interval);
    heartbeat_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->state_ != State::kStreaming) return;
      self->enqueue(": heartbeat\n\n");
      self->arm_heartbeat();
    });
  }

  // --- Instance logs, followed (text/plain, close-delimited) ---------------------------------

  void start_log_stream(controller::LogsRequest request) {
    state_ = State::kStreaming;
    stream_.expires_never();
    enqueue(std::string("HTTP/1.1 200 OK\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Cache-Control: no-cache\r\n"
                        "Connection: close\r\n"
                        "X-Accel-Buffering: no\r\n\r\n"));
    log_request_ = std::move(request);
    log_deadline_ = std::chrono::steady_clock::now() + options().log_follow_limit;
    poll_logs();
    watch_for_disconnect();
  }

  // Reads what each instance wrote since the last poll and sends its complete lines; then polls
  // again after log_follow_interval, until the client leaves, the rollout or revision goes
  // away (the facade answers an error), or log_follow_limit passes.
  void poll_logs() {
    if (state_ != State::kStreaming) return;
    controller::LogsRequest request = *log_request_;
    request.after = log_offsets_;
    auto logs = core_->facade.logs(request);
    if (!logs.is_ok()) return close();
    if (logs->size() > 1) log_prefix_ = true;
    std::string out;
    for (auto& log : *logs) {
      log_offsets_[log.instance] = log.end_offset;
      std::string& pending = log_pending_[log.instance];
      pending += log.text;
      // Whole lines only, so prefixed lines of two instances never interleave mid-line; a line
      // longer than the byte bound is sent as it is.
      size_t cut = pending.rfind('\n');
      if (cut == std::string::npos && pending.size() > request.max_bytes) cut = pending.size() - 1;
      if (cut == std::string::npos) continue;
      log.text = pending.substr(0, cut + 1);
      pending.erase(0, cut + 1);
      out += format_instance_logs({log}, log_prefix_);
    }
    if (!out.empty()) enqueue(std::move(out));
    if (std::chrono::steady_clock::now() >= log_deadline_) return close();
    heartbeat_.expires_after(options().log_follow_interval);
    heartbeat_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->poll_logs();
    });
  }

  // The client never sends after the request; any read completion means it went away.
  void watch_for_disconnect() {
    stream_.socket().async_read_some(
        asio::buffer(probe_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return self->close();
          self->watch_for_disconnect();
        });
  }

  void enqueue(std::string frame) {
    if (state_ == State::kClosed) return;
    if (outbox_.size() >= options().max_stream_backlog) return close();  // too slow a reader
    outbox_.push_back(std::move(frame));
    if (!writing_) write_next();
  }

  void write_next() {
    writing_ = true;
    stream_.expires_after(options().write_timeout);
    asio::async_write(stream_, asio::buffer(outbox_.front()),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->writing_ = false;
                        if (ec) return self->close();
                        self->outbox_.pop_front();
                        if (!self->outbox_.empty()) self->write_next();
                      });
  }

  void close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    subscription_.reset();
    stream_slot_.reset();
    heartbeat_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Core> core_;
  asio::steady_timer heartbeat_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  State state_ = State::kReading;
  unsigned version_ = 11;
  bool head_request_ = false;
  bool keep_alive_ = true;
  size_t served_ = 0;
  std::string remote_address_;
  std::unique_ptr<SlotCounter::Slot> slot_;  // released with the session
  const bool health_only_;
  // Streaming state.
  std::unique_ptr<SlotCounter::Slot> stream_slot_;
  std::unique_ptr<controller::Subscription> subscription_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  uint64_t last_event_id_ = 0;
  std::array<char, 512> probe_{};
  // Log following state.
  std::optional<controller::LogsRequest> log_request_;
  std::map<std::string, uint64_t> log_offsets_;   // instance -> end_offset of the last read
  std::map<std::string, std::string> log_pending_;  // instance -> a line not yet complete
  bool log_prefix_ = false;  // several instances seen: prefix every line with its id
  std::chrono::steady_clock::time_point log_deadline_{};
};

// Polls until every session is gone or the grace period ends, then closes the rest.
class ShutdownWaiter : public std::enable_shared_from_this<ShutdownWaiter> {
 public:
  ShutdownWaiter(std::shared_ptr<Core> core, std::chrono::steady_clock::time_point deadline,
                 std::function<void()> done)
      : core_(std::move(core)), timer_(core_->ioc), deadline_(deadline), done_(std::move(done)) {}

  void tick() {
    bool empty;
    {
      std::lock_guard lock(core_->mu);
      empty = core_->sessions.empty();
    }
    if (empty || std::chrono::steady_clock::now() >= deadline_) {
      for (auto& s : core_->live_sessions()) s->stop_now();
      if (done_) done_();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(10));
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->tick(); });
  }

 private:
  std::shared_ptr<Core> core_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
  std::function<void()> done_;
};

void do_accept(const std::shared_ptr<Core>& core);

// Out of descriptors or similar: back off instead of spinning on accept.
void accept_later(const std::shared_ptr<Core>& core) {
  auto timer = std::make_shared<asio::steady_timer>(core->acceptor.get_executor());
  timer->expires_after(std::chrono::milliseconds(50));
  timer->async_wait([core, timer](beast::error_code) { do_accept(core); });
}

// Gives the connection an ordinary slot (counted under its address until its first request),
// else a reserve slot (health only), else answers 429 here, without a session.
void admit(const std::shared_ptr<Core>& core, tcp::socket socket) {
  note_descriptor_opened();
  beast::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  std::string address = ec ? "unknown" : peer.address().to_string();
  std::unique_ptr<SlotCounter::Slot> slot;
  if (descriptors_free() >= core->options.descriptor_reserve)
    slot = core->connections->take("addr:" + address).slot;
  const bool health_only = slot == nullptr;
  if (health_only) slot = core->reserve->take(address).slot;
  if (!slot) {
    refuse_connection(socket, "429 Too Many Requests",
                      R"({"error":"too many connections","code":"too_many_connections"})", 1);
    return;
  }
  std::make_shared<Session>(std::move(socket), core, std::move(address), std::move(slot),
                            health_only)
      ->run();
}

void do_accept(const std::shared_ptr<Core>& core) {
  if (core->stopping.load() || !core->acceptor.is_open()) return;
  core->acceptor.async_accept(asio::make_strand(core->ioc),
                              [core](beast::error_code ec, tcp::socket socket) {
                                if (core->stopping.load() || !core->acceptor.is_open()) return;
                                if (ec == asio::error::operation_aborted) return;
                                if (ec) return accept_later(core);
                                admit(core, std::move(socket));
                                do_accept(core);
                              });
}

}  // namespace

Result<tcp::endpoint> parse_listen_address(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return invalid_argument("listen address must be HOST:PORT");
  std::string host = listen.substr(0, colon);
  std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) return invalid_argument("bad port in listen address: " + listen);
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return invalid_argument("bad host in listen address: " + listen);
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

ApiServer::ApiServer(asio::io_context& ioc, controller::ControlFacade& facade,
                     const Authenticator& auth, WebhookSecrets webhooks, ServerOptions options)
    : core_(std::make_shared<Core>(ioc, facade, auth, std::move(webhooks), std::move(options))) {}

ApiServer::~ApiServer() {
  if (!core_->stopping.exchange(true)) {
    asio::post(core_->acceptor.get_executor(), [core = core_] {
      beast::error_code ec;
      core->acceptor.close(ec);
    });
    for (auto& s : core_->live_sessions()) s->stop_now();
  }
}

Result<tcp::endpoint> ApiServer::start() {
  auto endpoint = parse_listen_address(core_->options.listen);
  if (!endpoint.is_ok()) return endpoint.status();
  if (!core_->auth.enabled() && !endpoint->address().is_loopback())
    return failed_precondition("refusing to listen on " + core_->options.listen +
                               " without auth tokens; configure auth.tokens or --auth-file, "
                               "or listen on 127.0.0.1");
  for (const auto& entry : core_->options.allowed_hosts) {
    if (Status st = check_allowed_host(entry); !st.is_ok())
      return invalid_argument("api.allowedHosts: " + st.message());
  }
  beast::error_code ec;
  auto& acceptor = core_->acceptor;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return unavailable("cannot listen on " + core_->options.listen + ": " + ec.message());
  auto bound = acceptor.local_endpoint(ec);
  auto hosts = HostPolicy::make(core_->options.listen, bound.port(), core_->options.allowed_hosts);
  if (!hosts.is_ok()) return hosts.status();
  core_->hosts = std::move(*hosts);
  asio::dispatch(acceptor.get_executor(), [core = core_] { do_accept(core); });
  return bound;
}

void ApiServer::shutdown(Duration grace, std::function<void()> done) {
  core_->stopping.store(true);
  asio::post(core_->acceptor.get_executor(), [core = core_] {
    beast::error_code ec;
    core->acceptor.close(ec);
  });
  for (auto& s : core_->live_sessions()) s->stop_gracefully();
  auto waiter = std::make_shared<ShutdownWaiter>(core_, std::chrono::steady_clock::now() + grace,
                                                 std::move(done));
  asio::post(core_->ioc, [waiter] { waiter->tick(); });
}

size_t ApiServer::open_sessions() const {
  std::lock_guard lock(core_->mu);
  return core_->sessions.size();
}

}  // namespace sluice::api
