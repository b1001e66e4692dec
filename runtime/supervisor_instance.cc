// The life of one instance: spawn, exit, probes, restart with back-off, graceful stop.
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "healthcheck/probe_exec.h"
#include "healthcheck/probe_http.h"
#include "base/process.h"
#include "manifests/expand.h"
#include "runtime/proc.h"
#include "runtime/supervisor.h"

namespace sluice::runtime {

namespace asio = boost::asio;
using Clock_ = std::chrono::steady_clock;

namespace {

std::string upper_env_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    out.push_back(std::isalnum(static_cast<unsigned char>(c))
                      ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                      : '_');
  }
  return out;
}

Duration since(Clock_::time_point t) {
  return std::chrono::duration_cast<Duration>(Clock_::now() - t);
}

}  // namespace

Result<std::string> resolve_working_dir(const std::string& checkout_dir,
                                        const std::string& working_dir) {
  namespace fs = std::filesystem;
  if (checkout_dir.empty()) return invalid_argument("workingDir: the revision has no checkout dir");
  const fs::path rel(working_dir.empty() ? "." : working_dir);
  if (rel.is_absolute()) {
    return invalid_argument(
        fmt::format("workingDir {}: must be relative to the checkout", working_dir));
  }
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(checkout_dir, ec);
  if (ec) return invalid_argument(fmt::format("checkout {}: {}", checkout_dir, ec.message()));
  const fs::path full = fs::weakly_canonical(base / rel, ec);
  if (ec) return invalid_argument(fmt::format("workingDir {}: {}", working_dir, ec.message()));
  auto [base_end, full_it] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (base_end != base.end()) {
    return invalid_argument(fmt::format("workingDir {}: leaves the checkout", working_dir));
  }
  if (!fs::is_directory(full, ec)) {
    return invalid_argument(
        fmt::format("workingDir {}: {}", working_dir, ec ? ec.message() : "not a directory"));
  }
  return full.string();
}

Status Supervisor::refresh_ports(Instance& inst) {
  for (const auto& name : inst.allocated_ports) {
    int& port = inst.rec.ports[name];
    // A port taken by another program since we handed it out (or never allocated) is replaced.
    if (port != 0 && PortAllocator::is_free(port)) continue;
    if (port != 0) ports_.release(port);
    auto fresh = ports_.allocate();
    if (!fresh) return fresh.status();
    port = *fresh;
  }
  return Status::ok();
}

Status Supervisor::build_environment(Instance& inst, std::vector<std::string>& argv) {
  const RevisionSpec& spec = *inst.spec;
  auto dir = resolve_working_dir(spec.checkout_dir, spec.pod.working_dir);
  if (!dir) return dir.status();
  inst.target.working_dir = *dir;
  inst.target.checkout_dir = spec.checkout_dir;
  inst.target.ports = inst.rec.ports;

  std::map<std::string, std::string> provided;
  bool first = true;
  for (const auto& port : spec.pod.ports) {
    const std::string value = std::to_string(inst.rec.ports[port.name]);
    if (first) provided["PORT"] = value;
    first = false;
    provided["PORT_" + upper_env_name(port.name)] = value;
  }
  provided["SLUICE_ROLLOUT"] = spec.rollout;
  provided["SLUICE_REVISION"] = std::to_string(spec.revision);
  provided["SLUICE_VERSION"] = spec.pod.version;
  provided["SLUICE_INSTANCE"] = inst.rec.id;
  // The role lives in a file only: an environment is fixed at spawn, and a canary promoted to
  // stable keeps its process, so a role in env would go on saying "canary" (as Kubernetes'
  // downward API: env is set at creation, a volume file follows the labels).
  provided["SLUICE_ROLE_FILE"] = store_.role_path(inst.rec.id);

  std::map<std::string, std::string> vars;
  if (options_.inherit_environment) {
    for (const auto& entry : current_environment()) {
      const size_t eq = entry.find('=');
      if (eq != std::string::npos) vars[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
  }
  for (const auto& [name, value] : provided) vars[name] = value;
  // Template env may reference ports, SLUICE_* and earlier entries; what we provide wins. Every
  // expansion is bounded (manifests/expand.h): lint refuses what the manifest alone makes too
  // large, and this catches the rest (the inherited environment, a record from an older Sluice).
  size_t total = 0;
  auto too_large = [&](const std::string& field) {
    return invalid_argument(fmt::format(
        "{} expands to more than {} bytes ($(VAR) references nest too deeply); refusing to start",
        field, manifests::kMaxExpandedValueBytes));
  };
  for (size_t i = 0; i < spec.pod.env.size(); ++i) {
    const auto& e = spec.pod.env[i];
    if (provided.count(e.name)) continue;
    auto expanded = manifests::expand(e.value, vars);
    if (expanded.too_large) return too_large(fmt::format("spec.template.env[{}] ({})", i, e.name));
    vars[e.name] = std::move(expanded.value);
  }
  inst.target.env.clear();
  for (const auto& [name, value] : vars) {
    inst.target.env.push_back(name + "=" + value);
    total += inst.target.env.back().size() + 1;
  }
  argv.clear();
  for (size_t i = 0; i < spec.pod.command.size(); ++i) {
    auto expanded = manifests::expand(spec.pod.command[i], vars);
    if (expanded.too_large) return too_large(fmt::format("spec.template.command[{}]", i));
    total += expanded.value.size() + 1;
    argv.push_back(std::move(expanded.value));
  }
  if (total > manifests::kMaxExpandedTotalBytes) {
    return invalid_argument(fmt::format(
        "the expanded environment and command hold {} bytes, more than the {} an instance may "
        "have; refusing to start",
        total, manifests::kMaxExpandedTotalBytes));
  }
  return Status::ok();
}

void Supervisor::spawn(const InstancePtr& inst) {
  if (shut_down_ || inst->phase == Instance::Phase::kStopping) return;
  std::vector<std::string> argv;
  Status prepared = refresh_ports(*inst);
  if (prepared) prepared = build_environment(*inst, argv);
  if (!prepared) return on_start_failure(inst, prepared.message(), Duration(0));

  const std::string log = store_.log_path(inst->rec.id);
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return on_start_failure(inst, fmt::format("open {}: {}", log, strerror(errno)), Duration(0));
  }
  SpawnRequest request;
  request.argv = argv;
  request.env = inst->target.env;
  request.working_dir = inst->target.working_dir;
  // After $(VAR) expansion: a relative command[0] must still resolve inside the checkout.
  request.confine_to = inst->target.checkout_dir;
  request.stdout_fd = log_fd;
  request.stderr_fd = log_fd;
  request.new_session = true;
  auto pid = spawn_process(request);
  close(log_fd);
  if (!pid) return on_start_failure(inst, pid.status().message(), Duration(0));

  ++inst->generation;
  inst->adopted = false;
  inst->rec.pid = *pid;
  const auto stat = read_proc_stat(*pid);
  inst->rec.start_ticks = stat ? stat->start_ticks : 0;
  inst->rec.started_at_ms = to_unix_ms(clock_.now());
  inst->run_started = Clock_::now();
  inst->phase = Instance::Phase::kRunning;
  inst->kill_reason.clear();
  const int fd = open_pidfd(*pid);
  if (fd < 0) {
    // Only on kernels without pidfd (< 5.3): the instance cannot be watched; refuse it.
    kill(-*pid, SIGKILL);
    int status = 0;
    waitpid(*pid, &status, 0);
    inst->rec.pid = 0;
    return on_start_failure(inst, fmt::format("pidfd_open: {}", strerror(errno)), Duration(0));
  }
  inst->pidfd = std::make_unique<asio::posix::stream_descriptor>(strand_, fd);
  persist(*inst);
  watch_exit(inst);
  start_probes(inst, /*adopted=*/false);
  publish(*inst);
}

void Supervisor::watch_exit(const InstancePtr& inst) {
  const uint64_t generation = inst->generation;
  inst->pidfd->async_wait(
      asio::posix::stream_descriptor::wait_read,
      [self = shared_from_this(), inst, generation](boost::system::error_code ec) {
        if (ec || self->shut_down_ || inst->generation != generation) return;
        self->on_exit(inst);
      });
}

void Supervisor::on_exit(const InstancePtr& inst) {
  ExitInfo exit;
  if (inst->adopted) {
    exit.description = "exited (adopted process; status unknown)";
  } else {
    // The zombie still holds its pid and group: kill leftovers of the group, then reap.
    kill(-inst->rec.pid, SIGKILL);
    int status = 0;
    if (waitpid(inst->rec.pid, &status, WNOHANG) == inst->rec.pid) {
      const auto decoded = decode_wait_status(status);
      exit.exit_code = decoded.exit_code;
      exit.signal = decoded.signal;
      exit.description = decoded.describe();
    } else {
      exit.description = "exited (status unknown)";
    }
  }
  ++inst->generation;
  boost::system::error_code ignored;
  inst->pidfd->close(ignored);
  inst->pidfd.reset();
  inst->kill_timer.cancel();
  stop_probes(*inst);
  inst->rec.pid = 0;
  exit.at = clock_.now();
  inst->last_exit = exit;
  inst->ready = false;
  inst->started = false;
  if (inst->phase == Instance::Phase::kStopping) return finish_stop(inst);
  std::string error = inst->kill_reason.empty() ? exit.description : inst->kill_reason;
  on_start_failure(inst, std::move(error), since(inst->run_started));
}

void Supervisor::on_start_failure(const InstancePtr& inst, std::string error, Duration ran_for) {
  inst->last_error = std::move(error);
  inst->rec.consecutive_failures =
      next_failure_count(options_.backoff, inst->rec.consecutive_failures, ran_for);
  if (inst->rec.consecutive_failures <= 1) inst->crash_loop = false;
  schedule_restart(inst);
}

void Supervisor::schedule_restart(const InstancePtr& inst) {
  inst->phase = Instance::Phase::kWaiting;
  inst->rec.pid = 0;
  if (inst->rec.consecutive_failures >= 2) inst->crash_loop = true;
  persist(*inst);
  publish(*inst);
  const Duration delay = backoff_delay(options_.backoff, inst->rec.consecutive_failures);
  inst->timer.expires_after(delay);
  inst->timer.async_wait([self = shared_from_this(), inst](boost::system::error_code ec) {
    if (ec || self->shut_down_ || inst->phase != Instance::Phase::kWaiting) return;
    ++inst->rec.restarts;
    self->spawn(inst);
  });
}

void Supervisor::start_probes(const InstancePtr& inst, bool adopted) {
  const auto& pod = inst->spec->pod;
  inst->live = true;
  // An adopted instance keeps the readiness it was recorded with until a probe says otherwise
  // (its readiness prober starts from it); a new one starts unready.
  inst->ready = adopted && inst->rec.ready;
  if (inst->ready) inst->ready_since = from_unix_ms(inst->rec.ready_since_ms);
  if (pod.startup_probe && pod.startup_probe->defined() && !adopted) {
    inst->started = false;
    const uint64_t generation = inst->generation;
    inst->startup = healthcheck::Prober::start(
        strand_, *pod.startup_probe, inst->target, false,
        [self = shared_from_this(), inst, generation](const healthcheck::Prober& prober, bool) {
          if (self->shut_down_ || inst->generation != generation) return;
          if (prober.last_was_own_error())
            return self->note_probe_error(*inst, "startup", prober.last_outcome());
          if (prober.healthy()) {
            inst->started = true;
            inst->startup->stop();
            self->start_main_probes(inst, false);
            self->publish(*inst);
          } else if (prober.failure_threshold_reached()) {
            self->kill_for(inst, "startup probe failed: " + prober.last_outcome().message);
          }
        });
  } else {
    inst->started = true;
    start_main_probes(inst, adopted);
  }
}

void Supervisor::start_main_probes(const InstancePtr& inst, bool adopted) {
  const auto& pod = inst->spec->pod;
  const uint64_t generation = inst->generation;
  if (pod.readiness_probe && pod.readiness_probe->defined()) {
    manifests::Probe probe = *pod.readiness_probe;
    if (adopted) probe.initial_delay = Duration(0);  // it has been running; don't wait again
    inst->readiness = healthcheck::Prober::start(
        strand_, probe, inst->target, inst->ready,
        [self = shared_from_this(), inst, generation](const healthcheck::Prober& prober,
                                                      bool flipped) {
          if (self->shut_down_ || inst->generation != generation) return;
          if (prober.last_was_own_error())
            return self->note_probe_error(*inst, "readiness", prober.last_outcome());
          if (!flipped) return;
          inst->ready = prober.healthy();
          if (inst->ready) {
            inst->ready_since = self->clock_.now();
            inst->crash_loop = false;
          } else {
            inst->last_error = "readiness probe failed: " + prober.last_outcome().message;
          }
          self->persist(*inst);
          self->publish(*inst);
        });
  } else {
    if (!inst->ready) inst->ready_since = clock_.now();
    inst->ready = true;
    persist(*inst);
  }
  if (pod.liveness_probe && pod.liveness_probe->defined()) {
    inst->liveness = healthcheck::Prober::start(
        strand_, *pod.liveness_probe, inst->target, true,
        [self = shared_from_this(), inst, generation](const healthcheck::Prober& prober,
                                                      bool flipped) {
          if (self->shut_down_ || inst->generation != generation) return;
          if (prober.last_was_own_error())
            return self->note_probe_error(*inst, "liveness", prober.last_outcome());
          if (!flipped) return;
          inst->live = prober.healthy();
          if (!inst->live) {
            self->kill_for(inst, "liveness probe failed: " + prober.last_outcome().message);
          }
        });
  }
}

void Supervisor::stop_probes(Instance& inst) {
  for (auto* prober : {&inst.startup, &inst.readiness, &inst.liveness}) {
    if (*prober) (*prober)->stop();
    prober->reset();
  }
}

void Supervisor::note_probe_error(Instance& inst, const char* probe,
                                  const healthcheck::ProbeOutcome& out) {
  {
    std::lock_guard lock(mu_);
    ++probe_errors_[{inst.rec.rollout, out.own_error}];
  }
  ++inst.probe_resource_errors;
  inst.last_probe_resource_error = fmt::format("{} probe: {}: {}", probe, out.own_error, out.message);
  const TimePoint now = clock_.now();
  if (inst.probe_error_logged != TimePoint{} && now - inst.probe_error_logged < Duration(10'000))
    return;
  inst.probe_error_logged = now;
  publish(inst);  // the controller records it as an event (at most this often per instance)
  spdlog::warn(
      "runtime: {} probe of {} could not run for lack of Sluice's own resources ({}): {}; not "
      "counted against the instance",
      probe, inst.rec.id, out.own_error, out.message);
}

void Supervisor::kill_for(const InstancePtr& inst, std::string reason) {
  if (inst->phase != Instance::Phase::kRunning || inst->rec.pid == 0) return;
  // As the kubelet: the container is killed with its grace period and restarted on exit.
  inst->kill_reason = std::move(reason);
  inst->last_error = inst->kill_reason;
  stop_probes(*inst);
  inst->ready = false;
  publish(*inst);
  kill(-inst->rec.pid, SIGTERM);
  const uint64_t generation = inst->generation;
  inst->kill_timer.expires_after(inst->spec->pod.termination_grace_period);
  inst->kill_timer.async_wait(
      [self = shared_from_this(), inst, generation](boost::system::error_code ec) {
        if (ec || self->shut_down_ || inst->generation != generation || inst->rec.pid == 0) return;
        kill(-inst->rec.pid, SIGKILL);
      });
}

void Supervisor::stop(const InstancePtr& inst) {
  if (inst->phase == Instance::Phase::kStopping) return;
  const bool running = inst->phase == Instance::Phase::kRunning && inst->rec.pid != 0;
  inst->phase = Instance::Phase::kStopping;
  inst->rec.terminating = true;
  inst->stop_started = Clock_::now();
  inst->timer.cancel();
  stop_probes(*inst);
  inst->ready = false;
  persist(*inst);
  publish(*inst);
  Runtime::BeforeStop before_stop;
  {
    std::lock_guard lock(mu_);
    before_stop = before_stop_;
  }
  if (before_stop) before_stop(status_of(*inst));
  if (!running) return finish_stop(inst);

  const auto& pod = inst->spec->pod;
  const auto& pre_stop = pod.lifecycle.pre_stop;
  if (pre_stop && pre_stop->defined()) {
    const Duration timeout = std::min(pre_stop->timeout, pod.termination_grace_period);
    const uint64_t generation = inst->generation;
    run_handler(inst, *pre_stop, HookKind::kPreStop, timeout,
                [self = shared_from_this(), inst, generation](HookResult result) {
                  if (self->shut_down_ || inst->generation != generation) return;
                  if (!result.ok) inst->last_error = "preStop: " + result.message;
                  self->send_sigterm(inst);
                });
  } else {
    send_sigterm(inst);
  }
}

void Supervisor::send_sigterm(const InstancePtr& inst) {
  if (inst->rec.pid == 0) return;
  kill(-inst->rec.pid, SIGTERM);
  const Duration grace = inst->spec->pod.termination_grace_period;
  Duration left = grace - since(inst->stop_started);
  if (left <= Duration(0)) left = std::min(options_.stop_extension, grace);
  const uint64_t generation = inst->generation;
  inst->kill_timer.expires_after(std::max(left, Duration(0)));
  inst->kill_timer.async_wait(
      [self = shared_from_this(), inst, generation](boost::system::error_code ec) {
        if (ec || self->shut_down_ || inst->generation != generation || inst->rec.pid == 0) return;
        kill(-inst->rec.pid, SIGKILL);
      });
}

void Supervisor::finish_stop(const InstancePtr& inst) {
  for (const auto& name : inst->allocated_ports) ports_.release(inst->rec.ports[name]);
  if (dropped_rollouts_.count(inst->rec.rollout) ||
      dropped_revisions_.count({inst->rec.rollout, inst->rec.revision})) {
    store_.remove_instance(inst->rec.id);
  } else {
    store_.retire_instance(inst->rec);  // its revision's history keeps the log's tail
  }
  instances_.erase(inst->rec.id);
  unpublish(*inst);
  forget_revision_if_idle({inst->rec.rollout, inst->rec.revision});
}

void Supervisor::run_handler(const InstancePtr& inst, const manifests::LifecycleHandler& handler,
                             HookKind kind, Duration timeout,
                             std::function<void(HookResult)> done) {
  const std::string id = inst->rec.id;
  const auto started = Clock_::now();
  auto finish = [id, kind, started, done = std::move(done)](bool ok, std::string message) {
    HookResult result;
    result.instance_id = id;
    result.kind = kind;
    result.ok = ok;
    result.message = std::move(message);
    result.took = since(started);
    done(std::move(result));
  };
  if (handler.http_post) {
    auto port = healthcheck::resolve_port(handler.http_post->port, inst->rec.ports);
    if (!port) {
      asio::post(strand_, [finish, msg = port.status().message()] { finish(false, msg); });
      return;
    }
    healthcheck::HttpRequestSpec spec;
    spec.method = "POST";
    spec.host = handler.http_post->host.empty() ? "127.0.0.1" : handler.http_post->host;
    spec.port = *port;
    spec.path = handler.http_post->path;
    spec.headers = handler.http_post->http_headers;
    spec.timeout = timeout;
    healthcheck::async_http_request(
        strand_, std::move(spec),
        [finish](healthcheck::HttpOutcome out) { finish(out.ok(), out.describe()); });
  } else if (handler.exec) {
    healthcheck::ExecSpec spec;
    spec.argv = handler.exec->command;
    spec.env = inst->target.env;
    spec.working_dir = inst->target.working_dir;
    spec.confine_to = inst->target.checkout_dir;
    spec.timeout = timeout;
    healthcheck::async_exec(strand_, std::move(spec), [finish](healthcheck::ExecOutcome out) {
      finish(out.ok(), out.describe());
    });
  } else {
    asio::post(strand_, [finish] { finish(false, "hook has no handler"); });
  }
}

}  // namespace sluice::runtime
