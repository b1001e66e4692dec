#include "tests/support/peers/kubelet_standin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <optional>
#include <vector>

#include "kube/kubeconfig.h"
#include "kube/rest_client.h"
#include "tests/support/process/test_process.h"

namespace sluice::testing {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Kubernetes' $(VAR) expansion in command and args: a defined variable is replaced, an undefined
// reference is left as written, and $$ escapes a dollar.
std::string expand(const std::string& in, const std::map<std::string, std::string>& env) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '$') {
      out += '$';
      ++i;
    } else if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '(') {
      const size_t close = in.find(')', i + 2);
      if (close == std::string::npos) {
        out += in.substr(i);
        break;
      }
      const std::string name = in.substr(i + 2, close - i - 2);
      auto it = env.find(name);
      out += it != env.end() ? it->second : in.substr(i, close - i + 1);
      i = close;
    } else {
      out += in[i];
    }
  }
  return out;
}

// GET http://ip:port/path with a short deadline; true on a 2xx status line. ip is the Pod's
// loopback address (127.1.x.y): the only kind of address a kRunCommand Pod ever gets.
bool http_probe_ok(const std::string& ip, int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1 ||
      (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
    ::close(fd);
    return false;
  }
  bool ok = false;
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  pollfd pfd{fd, POLLOUT, 0};
  if (rc == 0 || (errno == EINPROGRESS && ::poll(&pfd, 1, 500) == 1)) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) {
      const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + ip + "\r\n\r\n";
      if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
        pfd = {fd, POLLIN, 0};
        char buf[64];
        if (::poll(&pfd, 1, 1000) == 1) {
          const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          const std::string head(buf, n > 0 ? static_cast<size_t>(n) : 0);
          ok = head.size() >= 12 && head.rfind("HTTP/1.", 0) == 0 && head[9] == '2';
        }
      }
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

struct KubeletStandIn::Container {
  json spec;
  std::string name;
  int restart_count = 0;
  bool running = false;
  bool ready = false;
  std::string started_at;
  std::optional<int> last_exit_code;
  std::string last_reason;
  std::string last_started_at;
  std::string last_finished_at;
  Clock::time_point next_event;  // crash loop: next exit; kRunCommand: next restart or probe
  std::unique_ptr<ChildProcess> process;
};

struct KubeletStandIn::Pod {
  // Written by the watch thread under mu_.
  json object;
  bool gone = false;
  // The worker thread's own.
  std::string ns, name, uid;
  bool bound = false, started = false, deleted = false;
  std::string ip;
  PodBehavior behavior;
  Clock::time_point started_time;
  std::string start_time;
  std::string ready_since;  // lastTransitionTime of Ready, "" while not ready
  std::vector<Container> containers;
  std::string last_reported;
  std::map<std::string, std::string> env;  // $(VAR) values shared by the Pod's containers
};

KubeletStandIn::KubeletStandIn(KubeletOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<KubeletStandIn>> KubeletStandIn::start(const std::string& kubeconfig,
                                                              KubeletOptions options) {
  auto config = kube::load_kubeconfig(kubeconfig);
  if (!config) return config.status();
  auto client = kube::RestClient::create(config.value(), {.timeout = Duration(10'000)});
  if (!client) return client.status();
  std::unique_ptr<KubeletStandIn> node(new KubeletStandIn(std::move(options)));
  node->client_ = std::move(client).value();
  if (Status s = node->register_node(); !s) return s;
  node->watcher_ = std::thread([n = node.get()] { n->watch_loop(); });
  node->worker_ = std::thread([n = node.get()] { n->work_loop(); });
  return node;
}

KubeletStandIn::~KubeletStandIn() { stop(); }

void KubeletStandIn::stop() {
  stop_ = true;
  if (watcher_.joinable()) watcher_.join();
  if (worker_.joinable()) worker_.join();
  std::lock_guard lock(mu_);
  pods_.clear();  // ChildProcess destructors kill and reap what still runs
}

void KubeletStandIn::set_behavior(BehaviorFn behavior) {
  std::lock_guard lock(mu_);
  behavior_ = std::move(behavior);
}

std::string KubeletStandIn::pod_ip(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const auto& [uid, pod] : pods_) {
    const json& meta = pod->object["metadata"];
    if (str(meta, "namespace") == ns && str(meta, "name") == name) {
      return str(pod->object.value("status", json::object()), "podIP");
    }
  }
  return "";
}

std::string KubeletStandIn::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void KubeletStandIn::note_error(const std::string& what) {
  std::lock_guard lock(mu_);
  last_error_ = what;
}

Status KubeletStandIn::register_node() {
  const std::string& name = options_.node_name;
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata",
                {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}}};
  auto created = client_->post("/api/v1/nodes", node);
  if (!created) return created.status();
  if (!created.value().ok() && created.value().status != 409) {
    return unavailable("register node " + name + ": " + created.value().error_message());
  }
  const std::string now = now_rfc3339();
  json status = {
      {"status",
       {{"conditions",
         {{{"type", "Ready"},
           {"status", "True"},
           {"reason", "KubeletReady"},
           {"message", "sluice test stand-in"},
           {"lastHeartbeatTime", now},
           {"lastTransitionTime", now}}}},
        {"addresses", {{{"type", "InternalIP"}, {"address", "127.0.0.1"}}}},
        {"capacity", {{"cpu", "64"}, {"memory", "256Gi"}, {"pods", "1000"}}},
        {"allocatable", {{"cpu", "64"}, {"memory", "256Gi"}, {"pods", "1000"}}},
        {"nodeInfo", {{"kubeletVersion", "sluice-standin"}, {"architecture", "amd64"},
                      {"operatingSystem", "linux"}}}}}};
  auto patched = client_->patch("/api/v1/nodes/" + name + "/status", status.dump(),
                                kube::PatchType::kMerge);
  if (!patched) return patched.status();
  if (!patched.value().ok()) {
    return unavailable("report node " + name + " Ready: " + patched.value().error_message());
  }
  return Status::ok();
}

// A reflector in miniature: list, then watch from the list's resourceVersion; relist on any
// error (410 Gone included). The worker reads what this writes, under mu_.
void KubeletStandIn::watch_loop() {
  while (!stop_) {
    auto list = client_->get("/api/v1/pods");
    if (!list || !list.value().ok()) {
      note_error("list pods: " + (list ? list.value().error_message() : list.status().message()));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    const json& body = list.value().json;
    std::string rv = str(body["metadata"], "resourceVersion");
    {
      std::lock_guard lock(mu_);
      std::map<std::string, bool> present;
      for (const json& item : body["items"]) {
        const std::string uid = str(item["metadata"], "uid");
        present[uid] = true;
        auto& pod = pods_[uid];
        if (!pod) pod = std::make_unique<Pod>();
        pod->object = item;
      }
      for (auto& [uid, pod] : pods_) {
        if (!present.count(uid)) pod->gone = true;
      }
    }
    Status watched = client_->watch(
        "/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv,
        [this, &rv](const json& event) {
          const std::string type = str(event, "type");
          const json& object = event["object"];
          rv = str(object["metadata"], "resourceVersion");
          if (type == "BOOKMARK") return true;
          if (type == "ERROR") return false;  // 410 Gone arrives this way: relist
          const std::string uid = str(object["metadata"], "uid");
          std::lock_guard lock(mu_);
          auto& pod = pods_[uid];
          if (!pod) pod = std::make_unique<Pod>();
          pod->object = object;
          if (type == "DELETED") pod->gone = true;
          return true;
        },
        stop_, Duration(30'000));
    if (!watched && !stop_) {
      note_error("watch pods: " + watched.message());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

void KubeletStandIn::work_loop() {
  while (!stop_) {
    std::vector<std::pair<Pod*, json>> work;
    {
      std::lock_guard lock(mu_);
      for (auto it = pods_.begin(); it != pods_.end();) {
        if (it->second->gone) {
          it = pods_.erase(it);  // its processes are stopped by the Container destructors
        } else {
          work.emplace_back(it->second.get(), it->second->object);
          ++it;
        }
      }
    }
    for (auto& [pod, object] : work) {
      if (stop_) break;
      sync_pod(*pod, object);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}


std::string KubeletStandIn::next_ip() {
  const int n = ++next_ip_;
  if (options_.pod_network == KubeletOptions::PodNetwork::kDocumentation) {
    return "192.0.2." + std::to_string(1 + (n - 1) % 254);
  }
  return "127.1." + std::to_string((n / 250) % 250) + "." + std::to_string(2 + n % 250);
}

void KubeletStandIn::sync_pod(Pod& pod, const json& object) {
  const json& meta = object["metadata"];
  const json spec = object.value("spec", json::object());
  pod.ns = str(meta, "namespace");
  pod.name = str(meta, "name");
  pod.uid = str(meta, "uid");
  const std::string base = "/api/v1/namespaces/" + pod.ns + "/pods/" + pod.name;

  if (meta.contains("deletionTimestamp")) {
    finish_deletion(pod, object);
    return;
  }
  const std::string node = str(spec, "nodeName");
  if (node.empty()) {
    if (pod.bound) return;  // bound already; waiting for the watch to show it
    json binding = {{"apiVersion", "v1"},
                    {"kind", "Binding"},
                    {"metadata", {{"name", pod.name}, {"uid", pod.uid}}},
                    {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", options_.node_name}}}};
    auto bound = client_->post(base + "/binding", binding);
    if (!bound || (!bound.value().ok() && bound.value().status != 409)) {
      note_error("bind " + pod.name + ": " +
                 (bound ? bound.value().error_message() : bound.status().message()));
      return;
    }
    pod.bound = true;
    return;
  }
  if (node != options_.node_name) return;
  if (!pod.started) start_pod(pod, spec);
  update_containers(pod);
  if (Status s = report_status(pod); !s) note_error(s.message());
}

void KubeletStandIn::start_pod(Pod& pod, const json& spec) {
  pod.started = true;
  pod.bound = true;
  pod.ip = next_ip();
  pod.started_time = Clock::now();
  pod.start_time = now_rfc3339();
  BehaviorFn behavior;
  {
    std::lock_guard lock(mu_);
    behavior = behavior_;
  }
  json object = {{"metadata", {{"namespace", pod.ns}, {"name", pod.name}, {"uid", pod.uid}}},
                 {"spec", spec}};
  pod.behavior = behavior ? behavior(object) : PodBehavior{};
  pod.env = {{"POD_IP", pod.ip}};
  for (const json& c : spec.value("containers", json::array())) {
    Container container;
    container.spec = c;
    container.name = str(c, "name");
    pod.containers.push_back(std::move(container));
  }
  ++pods_started_;
  if (pod.behavior.kind == PodBehavior::Kind::kRunCommand) {
    for (auto& c : pod.containers) start_process(pod, c);
  } else {
    for (auto& c : pod.containers) {
      c.running = true;
      c.started_at = pod.start_time;
      c.next_event = Clock::now() + pod.behavior.restart_every;
    }
  }
}

void KubeletStandIn::start_process(Pod& pod, Container& c) {
  // The container's environment, as the kubelet builds it: `value`, and the downward API's
  // fieldRef for the fields a test service needs.
  std::map<std::string, std::string> env;
  std::vector<std::string> env_list;
  for (const json& e : c.spec.value("env", json::array())) {
    const std::string name = str(e, "name");
    std::string value = expand(str(e, "value"), env);
    if (e.contains("valueFrom")) {
      const std::string field = str(e["valueFrom"].value("fieldRef", json::object()), "fieldPath");
      if (field == "status.podIP") value = pod.ip;
      if (field == "metadata.name") value = pod.name;
      if (field == "metadata.namespace") value = pod.ns;
    }
    env[name] = value;
    env_list.push_back(name + "=" + value);
  }
  std::vector<std::string> argv;
  for (const json& a : c.spec.value("command", json::array())) argv.push_back(expand(a, env));
  for (const json& a : c.spec.value("args", json::array())) argv.push_back(expand(a, env));
  c.started_at = now_rfc3339();
  c.ready = false;
  c.next_event = Clock::now();
  if (argv.empty()) {
    c.running = false;
    c.last_exit_code = 128;
    c.last_reason = "ContainerCannotRun: no command (the stand-in runs no images)";
    return;
  }
  const std::string log = options_.log_dir + "/" + pod.ns + "_" + pod.name + "_" + c.name + "_" +
                          std::to_string(c.restart_count) + ".log";
  auto process = ChildProcess::spawn(argv, env_list, log);
  if (!process) {
    c.running = false;
    c.last_exit_code = 128;
    c.last_reason = "StartError: " + process.status().message();
    return;
  }
  c.process = std::move(process).value();
  c.running = true;
}

void KubeletStandIn::update_containers(Pod& pod) {
  const auto now = Clock::now();
  const PodBehavior& b = pod.behavior;
  for (auto& c : pod.containers) {
    switch (b.kind) {
      case PodBehavior::Kind::kReady:
        c.ready = now - pod.started_time >= b.ready_after;
        break;
      case PodBehavior::Kind::kNeverReady:
        c.ready = false;
        break;
      case PodBehavior::Kind::kCrashLoop:
        // Each period the container exits and is restarted: restartCount rises, the state is
        // waiting/CrashLoopBackOff and lastState names the exit code, as a real crash loop shows.
        if (now >= c.next_event) {
          ++c.restart_count;
          c.running = false;
          c.ready = false;
          c.last_exit_code = b.exit_code;
          c.last_reason = b.reason;
          c.last_started_at = c.started_at;
          c.last_finished_at = now_rfc3339();
          c.next_event = now + b.restart_every;
        }
        break;
      case PodBehavior::Kind::kRunCommand: {
        if (c.process) {
          if (auto code = c.process->wait_exit(std::chrono::milliseconds(0))) {
            c.process.reset();
            c.running = false;
            c.ready = false;
            c.last_exit_code = *code;
            c.last_reason = *code == 0 ? "Completed" : "Error";
            c.last_started_at = c.started_at;
            c.last_finished_at = now_rfc3339();
            ++c.restart_count;
            // The kubelet's back-off, shortened for tests: 500 ms doubling to 4 s.
            c.next_event = now + std::chrono::milliseconds(500 << std::min(c.restart_count - 1, 3));
          }
        }
        if (!c.process && now >= c.next_event && c.last_exit_code) {
          start_process(pod, c);
        }
        if (c.process && now >= c.next_event) {
          const json probe = c.spec.value("readinessProbe", json::object());
          if (probe.contains("httpGet")) {
            const json& get = probe["httpGet"];
            int port = get.value("port", json()).is_number() ? get["port"].get<int>() : 0;
            if (get.value("port", json()).is_string()) {
              for (const json& p : c.spec.value("ports", json::array())) {
                if (str(p, "name") == get["port"].get<std::string>()) port = p.value("containerPort", 0);
              }
            }
            c.ready = port > 0 && http_probe_ok(pod.ip, port, get.value("path", "/"));
          } else {
            c.ready = true;
          }
          c.next_event = now + std::chrono::milliseconds(200);
        }
        break;
      }
    }
  }
}

Status KubeletStandIn::report_status(Pod& pod) {
  bool all_ready = !pod.containers.empty();
  json statuses = json::array();
  for (const auto& c : pod.containers) {
    all_ready = all_ready && c.ready;
    json state;
    if (c.running) {
      state = {{"running", {{"startedAt", c.started_at}}}};
    } else if (pod.behavior.kind == PodBehavior::Kind::kCrashLoop || c.last_exit_code) {
      state = {{"waiting",
                {{"reason", "CrashLoopBackOff"},
                 {"message", "back-off restarting failed container " + c.name + " in pod " +
                                 pod.name + "_" + pod.ns + "(" + pod.uid + ")"}}}};
    } else {
      state = {{"waiting", {{"reason", "ContainerCreating"}}}};
    }
    json last = json::object();
    if (c.last_exit_code) {
      last = {{"terminated",
               {{"exitCode", *c.last_exit_code},
                {"reason", c.last_reason},
                {"startedAt", c.last_started_at.empty() ? pod.start_time : c.last_started_at},
                {"finishedAt", c.last_finished_at.empty() ? now_rfc3339() : c.last_finished_at},
                {"containerID", "sluice-standin://" + pod.uid + "/" + c.name + "/" +
                                    std::to_string(c.restart_count - 1)}}}};
    }
    statuses.push_back({{"name", c.name},
                        {"image", str(c.spec, "image")},
                        {"imageID", ""},
                        {"containerID", "sluice-standin://" + pod.uid + "/" + c.name + "/" +
                                            std::to_string(c.restart_count)},
                        {"ready", c.ready},
                        {"started", c.running},
                        {"restartCount", c.restart_count},
                        {"state", state},
                        {"lastState", last}});
  }
  if (all_ready && pod.ready_since.empty()) pod.ready_since = now_rfc3339();
  if (!all_ready) pod.ready_since.clear();
  const std::string ready = all_ready ? "True" : "False";
  const std::string since = all_ready ? pod.ready_since : pod.start_time;
  json status = {
      {"status",
       {{"phase", "Running"},
        {"hostIP", "127.0.0.1"},
        {"hostIPs", {{{"ip", "127.0.0.1"}}}},
        {"podIP", pod.ip},
        {"podIPs", {{{"ip", pod.ip}}}},
        {"startTime", pod.start_time},
        {"conditions",
         {{{"type", "PodScheduled"}, {"status", "True"}, {"lastTransitionTime", pod.start_time}},
          {{"type", "Initialized"}, {"status", "True"}, {"lastTransitionTime", pod.start_time}},
          {{"type", "ContainersReady"}, {"status", ready}, {"lastTransitionTime", since}},
          {{"type", "Ready"}, {"status", ready}, {"lastTransitionTime", since}}}},
        {"containerStatuses", statuses}}}};
  std::string body = status.dump();
  if (body == pod.last_reported) return Status::ok();
  auto patched = client_->patch(
      "/api/v1/namespaces/" + pod.ns + "/pods/" + pod.name + "/status", body,
      kube::PatchType::kMerge);
  if (!patched) return Status(patched.status().code(), "report " + pod.name + ": " + patched.status().message());
  if (!patched.value().ok()) {
    // 404: deleted meanwhile; the watch will say so.
    if (patched.value().status == 404) return Status::ok();
    return unavailable("report " + pod.name + ": " + patched.value().error_message());
  }
  pod.last_reported = std::move(body);
  return Status::ok();
}

void KubeletStandIn::finish_deletion(Pod& pod, const json& object) {
  if (pod.deleted) return;
  // Stop the containers within the Pod's grace period (bounded: a test never waits long).
  const int grace = object["metadata"].value("deletionGracePeriodSeconds", 30);
  for (auto& c : pod.containers) {
    if (!c.process) continue;
    c.process->signal(SIGTERM);
    (void)c.process->wait_exit(std::chrono::seconds(std::min(grace, 5)));
    c.process.reset();
  }
  json options = {{"apiVersion", "v1"},
                  {"kind", "DeleteOptions"},
                  {"gracePeriodSeconds", 0},
                  {"preconditions", {{"uid", pod.uid}}}};
  auto deleted = client_->request("DELETE",
                                  "/api/v1/namespaces/" + pod.ns + "/pods/" + pod.name,
                                  options.dump(), "application/json");
  if (!deleted || (!deleted.value().ok() && deleted.value().status != 404 &&
                   deleted.value().status != 409)) {
    note_error("delete " + pod.name + ": " +
               (deleted ? deleted.value().error_message() : deleted.status().message()));
    return;  // tried again on the next pass
  }
  pod.deleted = true;
  ++pods_deleted_;
}

}  // namespace sluice::testing
