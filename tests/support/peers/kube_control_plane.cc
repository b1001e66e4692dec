#include "tests/support/peers/kube_control_plane.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kube/kubeconfig.h"
#include "kube/rest_client.h"
#include "tests/support/peers/peers.h"

extern char** environ;

namespace sluice::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status write_file(const std::string& path, const std::string& content, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::trunc | std::ios::binary);
    out << content;
    if (!out) return unavailable("cannot write " + path);
  }
  ::chmod(path.c_str(), mode);
  return Status::ok();
}

std::string random_token() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();  // the test cannot go on without one
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

// An RSA key for the ServiceAccount token signer (kube-apiserver's --service-account-*-file).
Status write_rsa_key(const std::string& path) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (key == nullptr) return internal_error("RSA key generation failed");
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    EVP_PKEY_free(key);
    return unavailable("cannot write " + path);
  }
  const int ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  EVP_PKEY_free(key);
  return ok == 1 ? Status::ok() : internal_error("cannot write the key to " + path);
}

// The PEM blocks of a file, in order.
std::vector<std::string> pem_blocks(const std::string& text) {
  std::vector<std::string> blocks;
  const std::string begin = "-----BEGIN CERTIFICATE-----";
  const std::string end = "-----END CERTIFICATE-----";
  size_t at = 0;
  while ((at = text.find(begin, at)) != std::string::npos) {
    const size_t stop = text.find(end, at);
    if (stop == std::string::npos) break;
    blocks.push_back(text.substr(at, stop + end.size() - at) + "\n");
    at = stop + end.size();
  }
  return blocks;
}

std::string base64(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string kubeconfig_yaml(const std::string& server, const std::string& ca_pem,
                            const std::string& user, const std::string& token) {
  return "apiVersion: v1\nkind: Config\nclusters:\n- name: sluice-test\n  cluster:\n    server: " +
         server + "\n    certificate-authority-data: " + base64(ca_pem) +
         "\nusers:\n- name: " + user + "\n  user:\n    token: " + token +
         "\ncontexts:\n- name: sluice-test\n  context:\n    cluster: sluice-test\n    user: " +
         user + "\n    namespace: default\ncurrent-context: sluice-test\n";
}

bool alive(ChildProcess* p) { return p != nullptr && !p->wait_exit(std::chrono::milliseconds(0)); }

// Stops a component: SIGTERM, then SIGKILL of its group after `grace`.
void stop_process(std::unique_ptr<ChildProcess>& p, std::chrono::milliseconds grace) {
  if (!p) return;
  p->signal(SIGTERM);
  (void)p->wait_exit(grace);
  p.reset();  // a process still running is killed with its group and reaped here
}

}  // namespace

std::string KubeControlPlane::server() const {
  return "https://127.0.0.1:" + std::to_string(apiserver_port_);
}

Result<std::unique_ptr<KubeControlPlane>> KubeControlPlane::start(
    const KubeControlPlaneOptions& options) {
  std::unique_ptr<KubeControlPlane> plane(new KubeControlPlane());
  auto etcd = peer_path("bin/etcd");
  if (!etcd) return etcd.status();
  for (const char* bin : {"bin/kube-apiserver", "bin/kube-controller-manager", "bin/kubectl"}) {
    if (auto p = peer_path(bin); !p) return p.status();
  }
  plane->bin_ = peers_dir() + "/bin";
  if (plane->dir_.path().empty()) return unavailable("cannot make a temp dir");

  std::chrono::seconds budget = options.start_timeout;
  if (const char* t = std::getenv("SLUICE_KUBE_START_TIMEOUT_S"); t != nullptr && *t) {
    budget = std::chrono::seconds(std::atoi(t));
  }
  const auto deadline = Clock::now() + budget;
  plane->etcd_port_ = free_loopback_port();
  plane->etcd_peer_port_ = free_loopback_port();
  plane->apiserver_port_ = free_loopback_port();
  plane->admin_token_ = random_token();
  plane->controller_token_ = random_token();
  if (Status s = plane->write_files(); !s) return s;
  if (Status s = plane->start_etcd(deadline); !s) return s;
  if (Status s = plane->start_apiserver(deadline); !s) return s;
  if (Status s = plane->start_controller_manager(); !s) return s;
  if (options.scheduler) {
    if (Status s = plane->start_scheduler(); !s) return s;
  }
  return plane;
}

Status KubeControlPlane::write_files() {
  const std::string& d = dir_.path();
  std::error_code ec;
  std::filesystem::create_directories(d + "/pki", ec);
  std::filesystem::create_directories(d + "/etcd", ec);
  // Static bearer tokens: token,user,uid,"groups". Both users are cluster admins; the RBAC tests
  // use ServiceAccount tokens from the TokenRequest API instead.
  if (Status s = write_file(d + "/tokens.csv",
                            admin_token_ + ",sluice-test-admin,uid-admin,\"system:masters\"\n" +
                                controller_token_ +
                                ",system:kube-controller-manager,uid-kcm,\"system:masters\"\n");
      !s) {
    return s;
  }
  return write_rsa_key(d + "/pki/service-account.key");
}

Status KubeControlPlane::start_etcd(Clock::time_point deadline) {
  const std::string& d = dir_.path();
  const std::string client = "http://127.0.0.1:" + std::to_string(etcd_port_);
  const std::string peer = "http://127.0.0.1:" + std::to_string(etcd_peer_port_);
  auto p = ChildProcess::spawn(
      {bin_ + "/etcd", "--name=sluice-test", "--data-dir=" + d + "/etcd",
       "--listen-client-urls=" + client, "--advertise-client-urls=" + client,
       "--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
       "--initial-cluster=sluice-test=" + peer, "--log-level=warn",
       // A test cluster lives for seconds: durability is not what is under test here.
       "--unsafe-no-fsync=true"},
      {}, d + "/etcd.log");
  if (!p) return p.status();
  etcd_ = std::move(p).value();
  while (Clock::now() < deadline) {
    if (!alive(etcd_.get())) return unavailable("etcd exited during start-up:\n" + log_tail("etcd"));
    auto health = http(etcd_port_, "GET", "/health");
    if (health && health.value().status == 200 &&
        health.value().body.find("\"health\":\"true\"") != std::string::npos) {
      return Status::ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status(StatusCode::kDeadlineExceeded,
                "etcd did not become healthy in time:\n" + log_tail("etcd"));
}

Status KubeControlPlane::start_apiserver() {
  return start_apiserver(Clock::now() + std::chrono::seconds(90));
}

Status KubeControlPlane::start_apiserver(Clock::time_point deadline) {
  const std::string& d = dir_.path();
  const std::string sa_key = d + "/pki/service-account.key";
  auto p = ChildProcess::spawn(
      {bin_ + "/kube-apiserver", "--etcd-servers=http://127.0.0.1:" + std::to_string(etcd_port_),
       "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
       "--secure-port=" + std::to_string(apiserver_port_),
       // No --tls-cert-file: the apiserver writes a self-signed CA and serving cert here.
       "--cert-dir=" + d + "/pki", "--token-auth-file=" + d + "/tokens.csv",
       "--anonymous-auth=false", "--authorization-mode=RBAC",
       "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
       "--service-account-key-file=" + sa_key, "--service-account-signing-key-file=" + sa_key,
       // Only the ClusterIP allocator reads this range; nothing here routes to it.
       "--service-cluster-ip-range=10.96.0.0/16",
       // The apiserver would publish 127.0.0.1 in the `kubernetes` Endpoints, which validation
       // refuses for loopback; there is no in-cluster client of it here.
       "--endpoint-reconciler-type=none", "--enable-priority-and-fairness=false",
       "--profiling=false", "--v=1"},
      {}, d + "/kube-apiserver.log");
  if (!p) return p.status();
  apiserver_ = std::move(p).value();

  // The serving certificate file holds the leaf and then the CA that signed it.
  const std::string cert_file = d + "/pki/apiserver.crt";
  while (ca_pem_.empty() && Clock::now() < deadline) {
    if (!alive(apiserver_.get())) {
      return unavailable("kube-apiserver exited during start-up:\n" + log_tail("kube-apiserver"));
    }
    auto blocks = pem_blocks(read_file(cert_file));
    if (!blocks.empty()) ca_pem_ = blocks.back();
    if (ca_pem_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (ca_pem_.empty()) {
    return Status(StatusCode::kDeadlineExceeded,
                  "kube-apiserver wrote no serving certificate:\n" + log_tail("kube-apiserver"));
  }
  admin_kubeconfig_ = d + "/admin.kubeconfig";
  if (Status s = write_file(admin_kubeconfig_, kubeconfig_yaml(server(), ca_pem_,
                                                               "sluice-test-admin", admin_token_));
      !s) {
    return s;
  }
  auto config = kube::load_kubeconfig(admin_kubeconfig_);
  if (!config) return config.status();
  auto client = kube::RestClient::create(config.value(), {.timeout = Duration(5000)});
  if (!client) return client.status();
  std::string last;
  while (Clock::now() < deadline) {
    if (!alive(apiserver_.get())) {
      return unavailable("kube-apiserver exited during start-up:\n" + log_tail("kube-apiserver"));
    }
    // /readyz includes etcd, the RBAC bootstrap roles and the bootstrap controllers.
    auto ready = client.value()->get("/readyz");
    if (ready && ready.value().status == 200) return Status::ok();
    last = ready ? ready.value().error_message() : ready.status().message();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status(StatusCode::kDeadlineExceeded, "kube-apiserver not ready in time (last: " + last +
                                                   "):\n" + log_tail("kube-apiserver"));
}

Status KubeControlPlane::start_controller_manager() {
  const std::string& d = dir_.path();
  const std::string config = d + "/controller-manager.kubeconfig";
  if (Status s = write_file(config, kubeconfig_yaml(server(), ca_pem_,
                                                    "system:kube-controller-manager",
                                                    controller_token_));
      !s) {
    return s;
  }
  auto p = ChildProcess::spawn(
      {bin_ + "/kube-controller-manager", "--kubeconfig=" + config,
       "--controllers=deployment-controller,replicaset-controller,endpointslice-controller,"
       "garbage-collector-controller,namespace-controller,serviceaccount-controller",
       "--leader-elect=false", "--use-service-account-credentials=false",
       // No serving port: nothing here scrapes it, and it would need its own certificate.
       "--secure-port=0", "--v=1"},
      {}, d + "/kube-controller-manager.log");
  if (!p) return p.status();
  controller_manager_ = std::move(p).value();
  // It has no health endpoint without a serving port; a flag or config error ends it at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (!alive(controller_manager_.get())) {
    return unavailable("kube-controller-manager exited during start-up:\n" +
                       log_tail("kube-controller-manager"));
  }
  return Status::ok();
}

Status KubeControlPlane::start_scheduler() {
  const std::string& d = dir_.path();
  const std::string config = d + "/scheduler.kubeconfig";
  if (Status s = write_file(config, kubeconfig_yaml(server(), ca_pem_, "sluice-test-admin",
                                                    admin_token_));
      !s) {
    return s;
  }
  auto p = ChildProcess::spawn({bin_ + "/kube-scheduler", "--kubeconfig=" + config,
                                "--leader-elect=false", "--secure-port=0", "--v=1"},
                               {}, d + "/kube-scheduler.log");
  if (!p) return p.status();
  scheduler_ = std::move(p).value();
  return Status::ok();
}

Result<std::string> KubeControlPlane::write_kubeconfig(const std::string& name,
                                                       const std::string& token) const {
  const std::string path = dir_.path() + "/" + name;
  if (Status s = write_file(path, kubeconfig_yaml(server(), ca_pem_, name, token)); !s) return s;
  return path;
}

Result<std::string> KubeControlPlane::kubectl(const std::vector<std::string>& args,
                                              const std::string& stdin_data) const {
  const std::string& d = dir_.path();
  static int counter = 0;
  const std::string base = d + "/kubectl-" + std::to_string(++counter);
  if (Status s = write_file(base + ".in", stdin_data); !s) return s;
  std::vector<std::string> argv = {bin_ + "/kubectl", "--kubeconfig=" + admin_kubeconfig_};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> argp;
  for (auto& a : argv) argp.push_back(a.data());
  argp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, (base + ".in").c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, (base + ".out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, (base + ".err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return unavailable("spawn kubectl: " + std::string(std::strerror(rc)));
  int status = 0;
  const bool exited = poll_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; },
                                 std::chrono::seconds(60));
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return Status(StatusCode::kDeadlineExceeded, "kubectl timed out after 60 s");
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code != 0) {
    return unavailable("kubectl exited with " + std::to_string(code) + ": " +
                       read_file(base + ".err"));
  }
  return read_file(base + ".out");
}

Status KubeControlPlane::stop_apiserver() {
  stop_process(apiserver_, std::chrono::seconds(10));
  return Status::ok();
}

std::string KubeControlPlane::log_tail(const std::string& name) const {
  std::string all = read_file(dir_.path() + "/" + name + ".log");
  return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

Status KubeControlPlane::stop() {
  if (stopped_) return Status::ok();
  stopped_ = true;
  // Clients first, then the apiserver, then its store.
  stop_process(scheduler_, std::chrono::seconds(5));
  stop_process(controller_manager_, std::chrono::seconds(5));
  stop_process(apiserver_, std::chrono::seconds(10));
  stop_process(etcd_, std::chrono::seconds(5));
  return Status::ok();
}

KubeControlPlane::~KubeControlPlane() { (void)stop(); }

}  // namespace sluice::testing
