// Kubernetes-style probes (readiness, liveness, startup) over httpGet, tcpSocket or exec.
//
// Semantics (as the kubelet): the first attempt runs initialDelaySeconds after start(), then one
// attempt every periodSeconds (measured from the start of the previous attempt; an attempt that
// outlasts the period delays the next one, they never overlap). Each attempt is bounded by
// timeoutSeconds. The probe's result flips to healthy after successThreshold consecutive
// successes and to unhealthy after failureThreshold consecutive failures. The initial result is
// given by the owner (readiness/startup: false, liveness: true). OnResult runs after every
// attempt with `flipped` telling whether healthy() changed; a startup probe's owner also looks
// at failure_threshold_reached(), since a startup probe fails without ever having been healthy.
//
// An attempt that fails for lack of Sluice's own resources (ProbeOutcome::own_error: EMFILE,
// ENFILE, ENOMEM, ENOBUFS, EAGAIN when opening a socket or pipe or spawning; issue 19) is
// Sluice's failure, not the instance's: it is not counted towards either threshold, resets no
// streak and never flips the result. OnResult still runs (flipped = false) with it as
// last_outcome(), so that the owner can log and count it (own_errors()).
//
// Threading: create, stop and every callback happen on `executor` (pass a strand when the
// underlying io_context runs on several threads).
#pragma once

#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "healthcheck/probe_target.h"
#include "manifests/types.h"

namespace sluice::healthcheck {

// One attempt of `probe` against `target`; `done` runs on `executor` exactly once.
void async_probe_once(const boost::asio::any_io_executor& executor, const manifests::Probe& probe,
                      const ProbeTarget& target, std::function<void(ProbeOutcome)> done);

class Prober : public std::enable_shared_from_this<Prober> {
 public:
  using OnResult = std::function<void(const Prober& prober, bool flipped)>;

  // Starts probing at once (after the initial delay).
  static std::shared_ptr<Prober> start(const boost::asio::any_io_executor& executor,
                                       manifests::Probe probe, ProbeTarget target,
                                       bool initially_healthy, OnResult on_result);

  // Stops probing; no callback runs after this returns. Idempotent.
  void stop();

  bool healthy() const { return healthy_; }
  const ProbeOutcome& last_outcome() const { return last_; }
  int attempts() const { return attempts_; }
  int consecutive_failures() const { return consecutive_failures_; }
  int own_errors() const { return own_errors_; }
  bool last_was_own_error() const { return !last_.ok && !last_.own_error.empty(); }
  bool failure_threshold_reached() const;

  Prober(const boost::asio::any_io_executor& executor, manifests::Probe probe, ProbeTarget target,
         bool initially_healthy, OnResult on_result);

 private:
  void schedule(Duration delay);
  void attempt();
  void on_outcome(ProbeOutcome outcome);

  boost::asio::any_io_executor executor_;
  manifests::Probe probe_;
  ProbeTarget target_;
  OnResult on_result_;
  boost::asio::steady_timer timer_;
  bool healthy_;
  bool stopped_ = false;
  int consecutive_successes_ = 0;
  int consecutive_failures_ = 0;
  int attempts_ = 0;
  int own_errors_ = 0;
  ProbeOutcome last_;
  std::chrono::steady_clock::time_point attempt_started_;
};

}  // namespace sluice::healthcheck
