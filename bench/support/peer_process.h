// A real server process for a benchmark (HAProxy, nginx, ...): its config written into a private
// temp dir, started as an argv array (never through a shell) with stdout/stderr to DIR/peer.log,
// ready once a TCP connect to its loopback port succeeds (bounded wait), stopped by SIGTERM and
// then SIGKILL from the destructor. Also reads the CPU time a process and its children used, so
// a benchmark can report CPU per request next to throughput.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sluice::bench {

// A free TCP port on 127.0.0.1 (bound and released: another process may take it meanwhile, so
// callers retry a start that fails).
unsigned short free_loopback_port();

// True once something accepts on 127.0.0.1:port, waiting at most `timeout_ms`.
bool wait_for_port(unsigned short port, int timeout_ms);

class PeerProcess {
 public:
  // Creates the temp dir (/tmp/sluice-bench-<name>-XXXXXX); nothing runs yet.
  explicit PeerProcess(std::string name);
  ~PeerProcess();  // stops the process and removes the dir
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  const std::string& dir() const { return dir_; }
  // Writes DIR/<file> and returns its path.
  std::string write_file(const std::string& file, const std::string& text) const;
  // Starts argv and waits until 127.0.0.1:port accepts (10 s at most). False (with the log's
  // tail in error()) when it exits or does not listen in time.
  bool start(const std::vector<std::string>& argv, unsigned short port);
  void stop();
  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }

 private:
  std::string name_;
  std::string dir_;
  pid_t pid_ = -1;
  std::string error_;
};

// User + system CPU time of `pid` and of its direct children (nginx's workers), in seconds;
// 0 when /proc does not tell.
double cpu_seconds(pid_t pid);

// Restricts every thread of `pid` and of its direct children (nginx's workers) to `cpus`
// (sched_setaffinity per task, so threads started earlier are pinned too; threads started later
// inherit their creator's mask). False when a task could not be pinned.
bool pin_process_tree(pid_t pid, const std::vector<int>& cpus);

// Restricts the calling thread to `cpus`; processes and threads it starts afterwards inherit it.
bool pin_this_thread(const std::vector<int>& cpus);

// Sets the nice value of every thread of `pid` and of its direct children (Linux: per thread),
// and of the calling thread (inherited by what it starts). Negative values need CAP_SYS_NICE.
bool set_nice_process_tree(pid_t pid, int nice);
bool set_nice_this_thread(int nice);

// "cpu 0,1" for the output.
std::string describe_cpus(const std::vector<int>& cpus);

}  // namespace sluice::bench
