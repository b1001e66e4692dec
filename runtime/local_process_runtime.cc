#include "runtime/local_process_runtime.h"

#include <boost/asio/post.hpp>

#include "runtime/supervisor.h"

namespace sluice::runtime {

namespace asio = boost::asio;

LocalProcessRuntime::LocalProcessRuntime(asio::io_context& io, Clock& clock, std::string state_dir,
                                         LocalRuntimeOptions options)
    : supervisor_(std::make_shared<Supervisor>(io, clock, std::move(state_dir), options)) {
  supervisor_->load_state();
  asio::post(supervisor_->strand(), [s = supervisor_] { s->adopt_all(); });
}

LocalProcessRuntime::~LocalProcessRuntime() { supervisor_->shutdown(); }

std::vector<std::string> LocalProcessRuntime::startup_problems() const {
  return supervisor_->problems();
}

std::map<std::pair<std::string, std::string>, uint64_t> LocalProcessRuntime::probe_errors() const {
  return supervisor_->probe_errors();
}

std::string LocalProcessRuntime::metrics_text() const {
  std::string out =
      "# HELP sluice_probe_errors_total Probe attempts that Sluice could not make for lack of its "
      "own resources (not counted against the instance).\n"
      "# TYPE sluice_probe_errors_total counter\n";
  for (const auto& [key, count] : probe_errors()) {
    std::string rollout;
    for (char c : key.first) {
      if (c == '\\' || c == '"') rollout += '\\';
      if (c == '\n') {
        rollout += "\\n";
        continue;
      }
      rollout += c;
    }
    out += "sluice_probe_errors_total{rollout=\"" + rollout + "\",reason=\"" + key.second +
           "\"} " + std::to_string(count) + "\n";
  }
  return out;
}

void LocalProcessRuntime::scale(const RevisionSpec& spec, int replicas) {
  asio::post(supervisor_->strand(),
             [s = supervisor_, spec, replicas] { s->scale(spec, replicas); });
}

void LocalProcessRuntime::set_role(std::string_view rollout, int64_t revision, InstanceRole role) {
  asio::post(supervisor_->strand(), [s = supervisor_, rollout = std::string(rollout), revision,
                                     role] { s->set_role(rollout, revision, role); });
}

void LocalProcessRuntime::run_hook(std::string_view rollout, int64_t revision, HookKind kind,
                                   std::function<void(std::vector<HookResult>)> done) {
  asio::post(supervisor_->strand(), [s = supervisor_, rollout = std::string(rollout), revision,
                                     kind, done = std::move(done)]() mutable {
    s->run_hook(rollout, revision, kind, std::move(done));
  });
}

std::vector<InstanceStatus> LocalProcessRuntime::observe(std::string_view rollout) const {
  return supervisor_->observe(std::string(rollout));
}

std::vector<std::string> LocalProcessRuntime::rollouts() const { return supervisor_->rollouts(); }

void LocalProcessRuntime::set_listener(Listener listener) {
  supervisor_->set_listener(std::move(listener));
}

void LocalProcessRuntime::set_before_stop(BeforeStop before_stop) {
  supervisor_->set_before_stop(std::move(before_stop));
}

std::vector<InstanceLog> LocalProcessRuntime::read_logs(const LogQuery& query) const {
  return supervisor_->read_logs(query);
}

void LocalProcessRuntime::drop_logs(std::string_view rollout, std::optional<int64_t> revision) {
  asio::post(supervisor_->strand(), [s = supervisor_, rollout = std::string(rollout), revision] {
    s->drop_logs(rollout, revision);
  });
}

}  // namespace sluice::runtime
