#include "gitops/run_tool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <filesystem>

#include <fmt/format.h>

#include "base/process.h"

namespace sluice::gitops {
namespace fs = std::filesystem;

namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Reads what is available now; false at end of file (or a read error).
bool drain(int fd, std::string& into, size_t limit) {
  std::array<char, 4096> buf;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      const size_t room = limit > into.size() ? limit - into.size() : 0;
      into.append(buf.data(), std::min(room, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

std::string program_name(const std::vector<std::string>& argv) {
  return argv.empty() ? "" : fs::path(argv[0]).filename().string();
}

}  // namespace

Result<ToolOutcome> run_tool(const ToolRequest& request) {
  const std::string name = program_name(request.argv);
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return unavailable(fmt::format("{}: pipe: {}", name, strerror(errno)));
  }
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return unavailable(fmt::format("{}: pipe: {}", name, strerror(errno)));
  }
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);
  // Only our read ends are non-blocking (each end is its own open file description): the
  // program writes to ordinary blocking pipes.
  ::fcntl(out_read.fd, F_SETFL, O_NONBLOCK);
  ::fcntl(err_read.fd, F_SETFL, O_NONBLOCK);
  Fd input;
  if (!request.stdin_file.empty()) {
    input.fd = ::open(request.stdin_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (input.fd < 0) {
      return unavailable(fmt::format("{}: open {}: {}", name, request.stdin_file, strerror(errno)));
    }
  }
  // dup2 onto 0, 1 and 2 clears O_CLOEXEC in the child; every other descriptor is closed there.
  SpawnRequest spawn;
  spawn.argv = request.argv;
  spawn.env = request.env;
  spawn.working_dir = request.working_dir;
  spawn.stdin_fd = input.fd;
  spawn.stdout_fd = out_write.fd;
  spawn.stderr_fd = err_write.fd;
  spawn.new_session = true;
  auto pid = spawn_process(spawn);
  out_write.reset();
  err_write.reset();
  input.reset();
  if (!pid) return pid.status();
  Fd pidfd(open_pidfd(*pid));
  if (pidfd.fd < 0) {
    const int error = errno;
    ::kill(-*pid, SIGKILL);
    int status = 0;
    ::waitpid(*pid, &status, 0);
    return unavailable(fmt::format("{}: pidfd_open: {}", name, strerror(error)));
  }

  // An I/O boundary: steady time, not the controller's clock (a simulated clock must not stall
  // a real process).
  const auto deadline = std::chrono::steady_clock::now() + request.timeout;
  ToolOutcome outcome;
  bool out_open = true, err_open = true, exited = false;
  while (!exited || out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::array<pollfd, 3> fds{{{exited ? -1 : pidfd.fd, POLLIN, 0},
                               {out_open ? out_read.fd : -1, POLLIN, 0},
                               {err_open ? err_read.fd : -1, POLLIN, 0}}};
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    if (fds[1].revents) out_open = drain(out_read.fd, outcome.out, request.output_limit);
    if (fds[2].revents) err_open = drain(err_read.fd, outcome.err, request.output_limit);
    if (fds[0].revents) {
      exited = true;
      // A descendant may keep the pipes open: what the program wrote is there now; take it and
      // stop waiting for end of file.
      drain(out_read.fd, outcome.out, request.output_limit);
      drain(err_read.fd, outcome.err, request.output_limit);
      break;
    }
  }
  // The group still exists while the program is a zombie, so this never hits a reused pgid.
  ::kill(-*pid, SIGKILL);
  int status = 0;
  ::waitpid(*pid, &status, 0);
  if (!exited) {
    return Status(StatusCode::kDeadlineExceeded,
                  fmt::format("{} did not finish within {}ms", name, request.timeout.count()));
  }
  const ExitStatus exit = decode_wait_status(status);
  outcome.exit_code = exit.exit_code;
  outcome.signal = exit.signal;
  return outcome;
}

Result<PrivateTempDir> PrivateTempDir::create(const std::string& root, const std::string& prefix) {
  std::error_code ec;
  const fs::path base = root.empty() ? fs::temp_directory_path(ec) : fs::path(root);
  if (ec) return unavailable("no temp directory: " + ec.message());
  std::string pattern = (base / (prefix + "-XXXXXX")).string();
  // mkdtemp creates the directory with mode 0700.
  if (::mkdtemp(pattern.data()) == nullptr) {
    return unavailable(fmt::format("mkdtemp {}: {}", pattern, strerror(errno)));
  }
  return PrivateTempDir(pattern);
}

PrivateTempDir::PrivateTempDir(PrivateTempDir&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

PrivateTempDir::~PrivateTempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Result<std::string> PrivateTempDir::write(const std::string& name, std::string_view content) const {
  const std::string file = path_ + "/" + name;
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.fd < 0) return unavailable(fmt::format("create {}: {}", file, strerror(errno)));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd.fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return unavailable(fmt::format("write {}: {}", file, strerror(errno)));
    done += static_cast<size_t>(n);
  }
  return file;
}

Result<std::string> find_in_path(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), X_OK) == 0) return program;
    return not_found(program + " is not an executable file");
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + program;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return not_found(program + " not found in PATH");
}

}  // namespace sluice::gitops
