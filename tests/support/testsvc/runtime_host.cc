// sluice-runtime-host: a stand-in controller process for adoption tests.
//
//   sluice-runtime-host --state DIR --checkout DIR --rollout NAME --revision N --replicas K
//                       --ready-file FILE -- COMMAND...
// Starts K instances of COMMAND (one port "http", an httpGet /healthz readiness probe every
// 50 ms) with a LocalProcessRuntime on DIR, writes "<pid> <pid>...\n" to FILE once all are ready,
// then keeps supervising until it is killed (or for at most 60 s).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "runtime/local_process_runtime.h"
#include "runtime/state_store.h"

int main(int argc, char** argv) {
  using namespace sluice;
  std::string state, checkout, rollout = "svc", ready_file;
  int64_t revision = 1;
  int replicas = 1;
  std::vector<std::string> command;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--state")
      state = next();
    else if (a == "--checkout")
      checkout = next();
    else if (a == "--rollout")
      rollout = next();
    else if (a == "--revision")
      revision = std::atoll(next().c_str());
    else if (a == "--replicas")
      replicas = std::atoi(next().c_str());
    else if (a == "--ready-file")
      ready_file = next();
    else if (a == "--") {
      for (++i; i < argc; ++i) command.emplace_back(argv[i]);
    } else {
      std::fprintf(stderr, "runtime-host: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (state.empty() || checkout.empty() || ready_file.empty() || command.empty()) return 2;

  boost::asio::io_context io;
  runtime::LocalRuntimeOptions options;
  options.backoff.base = Duration(100);
  runtime::LocalProcessRuntime rt(io, SystemClock::instance(), state, options);
  runtime::RevisionSpec spec;
  spec.rollout = rollout;
  spec.revision = revision;
  spec.checkout_dir = checkout;
  spec.role = runtime::InstanceRole::kStable;
  spec.pod.version = "1.0.0";
  spec.pod.command = command;
  spec.pod.ports = {{"http", 0}};
  manifests::Probe probe;
  probe.http_get = manifests::HttpGetAction{"/healthz", "http", "127.0.0.1", {}};
  probe.period = Duration(50);
  probe.timeout = Duration(500);
  spec.pod.readiness_probe = probe;
  spec.pod.termination_grace_period = Duration(2000);
  rt.scale(spec, replicas);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool reported = false;
  while (std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(20));
    if (reported) continue;
    const auto instances = rt.observe(rollout);
    int ready = 0;
    std::string pids;
    for (const auto& inst : instances) {
      if (inst.ready && inst.pid > 0) {
        ++ready;
        pids += std::to_string(inst.pid) + " ";
      }
    }
    if (ready == replicas) {
      pids += "\n";
      if (runtime::write_file_atomically(ready_file, pids, false)) reported = true;
    }
  }
  return 0;
}
