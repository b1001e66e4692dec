#include "traffic/router_control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/unix_socket.h"
#include "base/process.h"
#include "traffic/route_codec.h"

namespace sluice::traffic {

using nlohmann::json;

namespace {

constexpr size_t kMaxRequestBytes = 16 * 1024 * 1024;

json error_answer(const std::string& message) { return {{"ok", false}, {"error", message}}; }

const char* kind_name(SampleKind kind) {
  switch (kind) {
    case SampleKind::kRequestDurationMs:
      return "requestDurationMs";
    case SampleKind::kSuccessRatePerSecond:
      return "successRatePerSecond";
    case SampleKind::kRequestsPerSecond:
      return "requestsPerSecond";
  }
  return "";
}

std::optional<SampleKind> kind_of(const std::string& name) {
  for (SampleKind k : {SampleKind::kRequestDurationMs, SampleKind::kSuccessRatePerSecond,
                       SampleKind::kRequestsPerSecond}) {
    if (name == kind_name(k)) return k;
  }
  return std::nullopt;
}

std::string str_field(const json& j, const char* name) {
  if (!j.contains(name) || !j.at(name).is_string())
    throw std::invalid_argument(fmt::format("{}: must be a string", name));
  return j.at(name).get<std::string>();
}

int64_t int_field(const json& j, const char* name) {
  if (!j.contains(name) || !j.at(name).is_number_integer())
    throw std::invalid_argument(fmt::format("{}: must be an integer", name));
  return j.at(name).get<int64_t>();
}

// Reads one request line (bounded by size and by the socket's receive timeout).
Result<std::string> read_line(int fd) {
  std::string line;
  char buf[16384];
  while (line.find('\n') == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return unavailable(fmt::format("recv: {}", std::strerror(errno)));
    }
    line.append(buf, static_cast<size_t>(n));
    if (line.size() > kMaxRequestBytes) return invalid_argument("request larger than 16 MiB");
  }
  const size_t end = line.find('\n');
  if (end != std::string::npos) line.resize(end);
  return line;
}

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

std::string router_socket_path(const std::string& dir) { return dir + "/router.sock"; }
std::string router_pid_path(const std::string& dir) { return dir + "/router.pid"; }

// ---------------------------------------------------------------------------------- server

RouterControlServer::RouterControlServer(BuiltinRouter& router, Filesystem& fs, std::string dir)
    : router_(router), fs_(fs), dir_(std::move(dir)) {}

RouterControlServer::~RouterControlServer() {
  stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::vector<std::string>> RouterControlServer::start() {
  if (Status st = fs_.mkdirs(dir_); !st.is_ok()) return st;
  const std::string lock_path = dir_ + "/router.lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    return unavailable(fmt::format("open {}: {}", lock_path, std::strerror(errno)));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    auto pid = fs_.read_file(router_pid_path(dir_));
    return failed_precondition(fmt::format(
        "another router runs in {} (pid {})", dir_,
        pid.is_ok() ? std::string(pid->substr(0, pid->find('\n'))) : std::string("unknown")));
  }
  std::vector<std::string> problems;
  if (fs_.exists(dir_ + "/tables.json")) {
    auto text = fs_.read_file(dir_ + "/tables.json");
    json kept = text.is_ok() ? json::parse(*text, nullptr, false) : json();
    if (!kept.is_array()) {
      problems.push_back(fmt::format("{}/tables.json is not a list of tables; starting without",
                                     dir_));
    } else {
      for (const auto& entry : kept) {
        auto table = route_table_from_json(entry);
        if (!table.is_ok()) {
          problems.push_back(fmt::format("{}/tables.json: {}", dir_, table.status().message()));
          continue;
        }
        if (Status st = router_.apply(*table); !st.is_ok()) {
          problems.push_back(fmt::format("rollout {}: {}", table->rollout, st.message()));
          continue;
        }
        tables_[table->rollout] = std::move(*table);
      }
    }
  }
  auto fd = listen_unix_socket(router_socket_path(dir_));
  if (!fd.is_ok()) return fd.status();
  listen_fd_ = *fd;
  struct stat st {};
  if (::stat(router_socket_path(dir_).c_str(), &st) == 0) socket_inode_ = st.st_ino;
  if (::pipe2(wake_fds_, O_CLOEXEC) != 0) {
    return unavailable(fmt::format("pipe: {}", std::strerror(errno)));
  }
  auto pid_file = fs_.open_writable(router_pid_path(dir_) + ".tmp", OpenMode::kTruncate);
  if (pid_file.is_ok()) {
    (void)(*pid_file)->append(fmt::format("{}\n", ::getpid()));
    (void)(*pid_file)->close();
    (void)fs_.rename(router_pid_path(dir_) + ".tmp", router_pid_path(dir_));
  }
  thread_ = std::thread([this] { serve_loop(); });
  return problems;
}

void RouterControlServer::stop() {
  if (thread_.joinable()) {
    const char one = 1;
    (void)!::write(wake_fds_[1], &one, 1);
    thread_.join();
  }
  for (int* fd : {&listen_fd_, &wake_fds_[0], &wake_fds_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
}

void RouterControlServer::serve_loop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    const int ready = ::poll(fds, 2, 1000);
    if (ready < 0) {
      if (errno == EINTR) continue;
      spdlog::error("router control: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (ready == 0) {
      // Once a second: a router whose socket was removed (its state dir deleted) or replaced
      // can no longer be reached, reconfigured or stopped by anyone, so it stops itself.
      struct stat st {};
      if (::stat(router_socket_path(dir_).c_str(), &st) != 0 || st.st_ino != socket_inode_) {
        spdlog::warn("router: {} was removed or replaced; stopping",
                     router_socket_path(dir_));
        if (on_orphaned_) on_orphaned_();
        return;
      }
      continue;
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;  // EMFILE and the like: the next poll retries
    timeval tv{2, 0};        // a client that does not send its line in 2 s is dropped
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    auto line = read_line(conn);
    const json answer = line.is_ok() ? handle(*line) : error_answer(line.status().message());
    send_all(conn, answer.dump() + "\n");
    ::close(conn);
  }
}

Status RouterControlServer::save_tables() {
  json all = json::array();
  for (const auto& [name, table] : tables_) all.push_back(to_json(table));
  const std::string path = dir_ + "/tables.json";
  auto file = fs_.open_writable(path + ".tmp", OpenMode::kTruncate);
  if (!file.is_ok()) return file.status();
  if (Status st = (*file)->append(all.dump()); !st.is_ok()) return st;
  if (Status st = (*file)->sync(); !st.is_ok()) return st;
  if (Status st = (*file)->close(); !st.is_ok()) return st;
  if (Status st = fs_.rename(path + ".tmp", path); !st.is_ok()) return st;
  return fs_.sync_dir(dir_);
}

json RouterControlServer::handle(const std::string& request_line) {
  const json req = json::parse(request_line, nullptr, false);
  if (!req.is_object()) return error_answer("request: not a JSON object");
  if (!req.contains("protocol") || req.at("protocol") != kRouterProtocol) {
    return error_answer(fmt::format("request: protocol must be {}", kRouterProtocol));
  }
  try {
    const std::string op = str_field(req, "op");
    std::lock_guard lock(mu_);
    if (op == "ping") {
      return {{"ok", true}, {"pid", ::getpid()}, {"protocol", kRouterProtocol}};
    }
    if (op == "apply") {
      if (!req.contains("table")) return error_answer("table: missing");
      auto table = route_table_from_json(req.at("table"));
      if (!table.is_ok()) return error_answer(table.status().message());
      auto it = tables_.find(table->rollout);
      if (it != tables_.end() && it->second == *table) return {{"ok", true}};
      if (Status st = router_.apply(*table); !st.is_ok()) return error_answer(st.message());
      tables_[table->rollout] = std::move(*table);
      if (Status st = save_tables(); !st.is_ok()) {
        // Applied and serving; only the copy for the router's own restart is missing.
        spdlog::warn("router: could not keep the tables: {}", st.message());
      }
      return {{"ok", true}};
    }
    if (op == "remove") {
      const std::string rollout = str_field(req, "rollout");
      router_.remove(rollout);
      if (tables_.erase(rollout) > 0) {
        if (Status st = save_tables(); !st.is_ok())
          spdlog::warn("router: could not keep the tables: {}", st.message());
      }
      return {{"ok", true}};
    }
    if (op == "drain") {
      if (!req.contains("endpoint")) return error_answer("endpoint: missing");
      auto endpoint = endpoint_from_json(req.at("endpoint"));
      if (!endpoint.is_ok()) return error_answer(endpoint.status().message());
      router_.drain_endpoint(str_field(req, "rollout"), *endpoint);
      return {{"ok", true}};
    }
    if (op == "stats") {
      auto s = router_.stats(str_field(req, "rollout"), int_field(req, "revision"),
                             Duration(int_field(req, "windowMs")));
      return {{"ok", true}, {"stats", s ? to_json(*s) : json(nullptr)}};
    }
    if (op == "samples") {
      auto kind = kind_of(str_field(req, "kind"));
      if (!kind) return error_answer("kind: unknown sample kind");
      auto values = router_.samples(str_field(req, "rollout"), int_field(req, "revision"), *kind,
                                    Duration(int_field(req, "windowMs")));
      json out = json::array();
      for (double v : values) out.push_back(std::isfinite(v) ? json(v) : json(nullptr));
      return {{"ok", true}, {"samples", std::move(out)}};
    }
    if (op == "metrics") return {{"ok", true}, {"text", router_.metrics_text()}};
    if (op == "tables") {
      json all = json::array();
      for (const auto& [name, table] : tables_) all.push_back(to_json(table));
      return {{"ok", true}, {"tables", std::move(all)}};
    }
    if (op == "listenPort") {
      const bool preview = req.contains("preview") && req.at("preview") == true;
      auto port = router_.listen_port(str_field(req, "rollout"), preview);
      return {{"ok", true}, {"port", port ? json(*port) : json(nullptr)}};
    }
    return error_answer(fmt::format("op: unknown \"{}\"", op));
  } catch (const std::exception& e) {
    return error_answer(std::string("request: ") + e.what());
  }
}

// ---------------------------------------------------------------------------------- client

RemoteRouter::RemoteRouter(RemoteRouterOptions options) : options_(std::move(options)) {}

RemoteRouter::~RemoteRouter() {
  std::lock_guard lock(mu_);
  if (child_ > 0) (void)::waitpid(child_, nullptr, WNOHANG);
}

Status RemoteRouter::start() {
  auto answer = call({{"op", "ping"}}, /*may_restart=*/true);
  return answer.is_ok() ? Status::ok() : answer.status();
}

Result<json> RemoteRouter::exchange(const json& request) const {
  json req = request;
  req["protocol"] = kRouterProtocol;
  auto raw = unix_socket_exchange(router_socket_path(options_.dir), req.dump() + "\n",
                                  options_.call_timeout,
                                  fmt::format("router {}: {}", router_socket_path(options_.dir),
                                              req.value("op", "")));
  if (!raw.is_ok()) return raw.status();
  json answer = json::parse(*raw, nullptr, false);
  if (!answer.is_object() || !answer.contains("ok")) {
    return unavailable(fmt::format("router {}: answer is not a JSON object",
                                   router_socket_path(options_.dir)));
  }
  if (answer.at("ok") != true) {
    return invalid_argument(answer.value("error", std::string("the router refused the request")));
  }
  if (answer.contains("pid") && answer.at("pid").is_number_integer()) {
    router_pid_ = answer.at("pid").get<int>();
  }
  return answer;
}

Status RemoteRouter::start_router() const {
  if (child_ > 0) {
    (void)::waitpid(child_, nullptr, WNOHANG);  // a router we started that died: reap it
    child_ = 0;
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  const std::string log = options_.dir + "/router.log";
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return unavailable(fmt::format("open {}: {}", log, std::strerror(errno)));
  SpawnRequest request;
  request.argv = options_.start_argv;
  request.env = current_environment();
  request.stdout_fd = log_fd;
  request.stderr_fd = log_fd;
  request.new_session = true;  // survives serve, its signals and its process group
  auto pid = spawn_process(request);
  ::close(log_fd);
  if (!pid.is_ok()) return pid.status();
  child_ = *pid;
  spdlog::info("router: started {} (pid {}, log {})", options_.start_argv.front(), *pid, log);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(options_.start_timeout.count());
  Status last = unavailable("not started");
  while (std::chrono::steady_clock::now() < deadline) {
    auto answer = exchange({{"op", "ping"}});
    if (answer.is_ok()) return Status::ok();
    last = answer.status();
    if (::waitpid(child_, nullptr, WNOHANG) == child_) {
      child_ = 0;
      return unavailable(fmt::format("router exited at start; see {}", log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return unavailable(fmt::format("router did not answer within {} ms ({}); see {}",
                                 options_.start_timeout.count(), last.message(), log));
}

Result<json> RemoteRouter::call(json request, bool may_restart) const {
  auto answer = exchange(request);
  if (answer.is_ok() || !may_restart || answer.status().code() != StatusCode::kUnavailable) {
    return answer;
  }
  // Nobody answers: start a router, give it every table this controller applied (it has
  // reloaded its own copy already; this covers a lost or older one), and try once more.
  std::lock_guard lock(mu_);
  if (auto again = exchange(request); again.is_ok()) return again;  // another call restarted it
  spdlog::warn("router: {}; starting one", answer.status().message());
  if (Status st = start_router(); !st.is_ok()) return st;
  for (const auto& [name, table] : tables_) {
    if (auto applied = exchange({{"op", "apply"}, {"table", to_json(table)}}); !applied.is_ok()) {
      spdlog::warn("router: re-applying {}: {}", name, applied.status().message());
    }
  }
  return exchange(request);
}

Status RemoteRouter::apply(const RouteTable& table) {
  auto answer = call({{"op", "apply"}, {"table", to_json(table)}}, true);
  if (!answer.is_ok()) return answer.status();
  std::lock_guard lock(mu_);
  tables_[table.rollout] = table;
  return Status::ok();
}

void RemoteRouter::remove(std::string_view rollout) {
  {
    std::lock_guard lock(mu_);
    tables_.erase(std::string(rollout));
  }
  if (auto answer = call({{"op", "remove"}, {"rollout", rollout}}, true); !answer.is_ok()) {
    spdlog::warn("router: remove {}: {}", rollout, answer.status().message());
  }
}

void RemoteRouter::drain_endpoint(std::string_view rollout, const Endpoint& endpoint) {
  auto answer = call({{"op", "drain"}, {"rollout", rollout}, {"endpoint", to_json(endpoint)}},
                     true);
  if (!answer.is_ok()) {
    spdlog::warn("router: drain {} {}: {}", rollout, endpoint.instance_id,
                 answer.status().message());
  }
}

std::optional<VersionStats> RemoteRouter::stats(std::string_view rollout, int64_t revision,
                                                Duration window) const {
  auto answer = call({{"op", "stats"},
                      {"rollout", rollout},
                      {"revision", revision},
                      {"windowMs", window.count()}},
                     true);
  if (!answer.is_ok() || !answer->contains("stats") || answer->at("stats").is_null()) {
    return std::nullopt;
  }
  auto s = version_stats_from_json(answer->at("stats"));
  if (!s.is_ok()) return std::nullopt;
  return *s;
}

std::vector<double> RemoteRouter::samples(std::string_view rollout, int64_t revision,
                                          SampleKind kind, Duration window) const {
  auto answer = call({{"op", "samples"},
                      {"rollout", rollout},
                      {"revision", revision},
                      {"kind", kind_name(kind)},
                      {"windowMs", window.count()}},
                     true);
  std::vector<double> out;
  if (!answer.is_ok() || !answer->contains("samples") || !answer->at("samples").is_array()) {
    return out;
  }
  for (const auto& v : answer->at("samples")) {
    out.push_back(v.is_number() ? v.get<double>() : std::nan(""));
  }
  return out;
}

std::string RemoteRouter::metrics_text() const {
  auto answer = call({{"op", "metrics"}}, false);
  if (!answer.is_ok() || !answer->contains("text") || !answer->at("text").is_string()) return "";
  return answer->at("text").get<std::string>();
}

std::optional<uint16_t> RemoteRouter::listen_port(std::string_view rollout, bool preview) const {
  auto answer = call({{"op", "listenPort"}, {"rollout", rollout}, {"preview", preview}}, false);
  if (!answer.is_ok() || !answer->contains("port") || !answer->at("port").is_number_integer()) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(answer->at("port").get<int>());
}

}  // namespace sluice::traffic
