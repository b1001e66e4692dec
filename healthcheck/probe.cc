#include "healthcheck/probe.h"

#include <algorithm>

#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include "healthcheck/probe_exec.h"
#include "healthcheck/probe_http.h"
#include "healthcheck/probe_tcp.h"

namespace sluice::healthcheck {

namespace asio = boost::asio;

void async_probe_once(const asio::any_io_executor& executor, const manifests::Probe& probe,
                      const ProbeTarget& target, std::function<void(ProbeOutcome)> done) {
  const auto fail_now = [&](std::string message) {
    asio::post(executor, [done = std::move(done), message = std::move(message)] {
      done({false, message, {}});
    });
  };
  if (probe.http_get) {
    auto port = resolve_port(probe.http_get->port, target.ports);
    if (!port) return fail_now(port.status().message());
    HttpRequestSpec spec;
    spec.host = probe.http_get->host.empty() ? "127.0.0.1" : probe.http_get->host;
    spec.port = *port;
    spec.path = probe.http_get->path;
    spec.headers = probe.http_get->http_headers;
    spec.timeout = probe.timeout;
    async_http_request(executor, std::move(spec), [done = std::move(done)](HttpOutcome out) {
      done({out.ok(), out.describe(), out.own_error});
    });
  } else if (probe.tcp_socket) {
    auto port = resolve_port(probe.tcp_socket->port, target.ports);
    if (!port) return fail_now(port.status().message());
    async_tcp_check(executor, "127.0.0.1", *port, probe.timeout, std::move(done));
  } else if (probe.exec) {
    ExecSpec spec;
    spec.argv = probe.exec->command;
    spec.env = target.env;
    spec.working_dir = target.working_dir;
    spec.confine_to = target.checkout_dir;
    spec.timeout = probe.timeout;
    spec.output_limit = 1024;
    async_exec(executor, std::move(spec), [done = std::move(done)](ExecOutcome out) {
      done({out.ok(), out.describe(), out.own_error});
    });
  } else {
    fail_now("probe has no handler");
  }
}

Prober::Prober(const asio::any_io_executor& executor, manifests::Probe probe, ProbeTarget target,
               bool initially_healthy, OnResult on_result)
    : executor_(executor),
      probe_(std::move(probe)),
      target_(std::move(target)),
      on_result_(std::move(on_result)),
      timer_(executor),
      healthy_(initially_healthy) {}

std::shared_ptr<Prober> Prober::start(const asio::any_io_executor& executor, manifests::Probe probe,
                                      ProbeTarget target, bool initially_healthy,
                                      OnResult on_result) {
  auto prober = std::make_shared<Prober>(executor, std::move(probe), std::move(target),
                                         initially_healthy, std::move(on_result));
  prober->schedule(prober->probe_.initial_delay);
  return prober;
}

void Prober::stop() {
  stopped_ = true;
  timer_.cancel();
  on_result_ = nullptr;
}

bool Prober::failure_threshold_reached() const {
  return consecutive_failures_ >= std::max(1, probe_.failure_threshold);
}

void Prober::schedule(Duration delay) {
  timer_.expires_after(std::max(delay, Duration(0)));
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->stopped_) return;
    self->attempt();
  });
}

void Prober::attempt() {
  attempt_started_ = std::chrono::steady_clock::now();
  ++attempts_;
  async_probe_once(executor_, probe_, target_, [self = shared_from_this()](ProbeOutcome outcome) {
    if (self->stopped_) return;
    self->on_outcome(std::move(outcome));
  });
}

void Prober::on_outcome(ProbeOutcome outcome) {
  last_ = std::move(outcome);
  if (!last_.ok && !last_.own_error.empty()) {
    // Sluice could not make the attempt (issue 19): neither a success nor a failure of the
    // instance, so no threshold moves and nothing flips; the owner counts and reports it.
    ++own_errors_;
  } else if (last_.ok) {
    consecutive_failures_ = 0;
    ++consecutive_successes_;
  } else {
    consecutive_successes_ = 0;
    ++consecutive_failures_;
  }
  bool flipped = false;
  if (!healthy_ && consecutive_successes_ >= std::max(1, probe_.success_threshold)) {
    healthy_ = true;
    flipped = true;
  } else if (healthy_ && consecutive_failures_ >= std::max(1, probe_.failure_threshold)) {
    healthy_ = false;
    flipped = true;
  }
  const auto elapsed =
      std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - attempt_started_);
  schedule(probe_.period - elapsed);
  if (on_result_) {
    auto on_result = on_result_;  // the callback may stop() this prober
    on_result(*this, flipped);
  }
}

}  // namespace sluice::healthcheck
