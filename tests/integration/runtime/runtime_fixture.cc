#include "tests/integration/runtime/runtime_fixture.h"
#include "tests/support/paths/paths.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace sluice::runtime::testing {

std::string testsvc_path() { return sluice::test::bin_dir() + "/sluice-testsvc"; }
std::string host_path() { return sluice::test::bin_dir() + "/sluice-runtime-host"; }

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sluice-rt-XXXXXX").string();
  path_ = mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

HttpReply http_call(int port, const std::string& path, const std::string& method) {
  HttpReply reply;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req =
        method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      std::string resp;
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
      if (resp.rfind("HTTP/1.1 ", 0) == 0 && resp.size() >= 12) {
        reply.status = std::atoi(resp.substr(9, 3).c_str());
        const size_t body = resp.find("\r\n\r\n");
        if (body != std::string::npos) reply.body = resp.substr(body + 4);
      }
    }
  }
  close(fd);
  return reply;
}

manifests::Probe http_probe(const std::string& path, int period_ms, int failure_threshold) {
  manifests::Probe probe;
  probe.http_get = manifests::HttpGetAction{path, "http", "127.0.0.1", {}};
  probe.period = Duration(period_ms);
  probe.timeout = Duration(500);
  probe.failure_threshold = failure_threshold;
  return probe;
}

RuntimeFixture::RuntimeFixture()
    : state_dir(dir.path() + "/state"), checkout_dir(dir.path() + "/checkout") {
  std::filesystem::create_directories(checkout_dir);
  options.backoff.base = Duration(100);
  options.backoff.cap = Duration(1000);
  options.log_check_interval = Duration(50);
  rt = std::make_unique<LocalProcessRuntime>(io, SystemClock::instance(), state_dir, options);
}

RuntimeFixture::~RuntimeFixture() {
  for (const auto& rollout : rt->rollouts()) {
    for (const auto& inst : rt->observe(rollout)) {
      if (inst.pid <= 0) continue;
      kill(-inst.pid, SIGKILL);
      waitpid(inst.pid, nullptr, 0);  // ours: reaped at once; adopted (not a child): ECHILD
    }
  }
  rt.reset();
}

RevisionSpec RuntimeFixture::spec(std::vector<std::string> args, const std::string& rollout,
                                  int64_t revision) const {
  RevisionSpec s;
  s.rollout = rollout;
  s.revision = revision;
  s.commit = "c0ffee";
  s.checkout_dir = checkout_dir;
  s.role = InstanceRole::kCanary;
  s.pod.version = "1.2.3";
  s.pod.command = {testsvc_path(), "--port", "$(PORT)", "--max-lifetime-ms", "60000"};
  for (auto& a : args) s.pod.command.push_back(std::move(a));
  s.pod.ports = {{"http", 0}};
  s.pod.termination_grace_period = Duration(2000);
  return s;
}

bool RuntimeFixture::wait_for(const std::function<bool()>& pred,
                              std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.run_for(std::chrono::milliseconds(10));
  }
  return true;
}

void RuntimeFixture::run_for(std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) io.run_for(std::chrono::milliseconds(5));
}

std::optional<InstanceStatus> RuntimeFixture::only(const std::string& rollout) const {
  auto all = rt->observe(rollout);
  if (all.size() != 1) return std::nullopt;
  return all[0];
}

void RuntimeFixture::restart_runtime() {
  rt.reset();
  rt = std::make_unique<LocalProcessRuntime>(io, SystemClock::instance(), state_dir, options);
}

}  // namespace sluice::runtime::testing
