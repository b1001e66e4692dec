// The runtime's part of the state dir, <state_dir>/runtime/:
//   instances/<id>.json     one record per instance: pid, process start time, ports, role, ...
//   revisions/<rollout>@<revision>.json   the RevisionSpec and desired replicas
//   roles/<id>              the live role ("stable\n"), exported as SLUICE_ROLE_FILE
//   logs/<id>.log[.1]       the instance's stdout+stderr (log_rotation.h)
//   logs/<rollout>/<revision>/<id>.log   the last kKeptLogBytes of an instance that is gone,
//                           kept until its revision leaves history (Runtime::drop_logs)
// Records are replaced atomically (temp file + rename), so a controller crash leaves either the
// old or the new record. They are deliberately not fsynced: they only matter while the instances
// they describe are alive, and a machine crash that could lose the page cache kills those
// instances too. (fsync cost ~30 ms per spawn on the CI disk, see bench_runtime.)
//
// Threading: not thread-safe; owned by the runtime's strand (and its constructor). The path
// functions and kept_logs() only read and may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "runtime/runtime.h"

namespace sluice::runtime {

struct InstanceRecord {
  std::string id;
  std::string rollout;
  int64_t revision = 0;
  int index = 0;             // per revision, increasing; the newest instance has the highest index
  int pid = 0;               // 0 when not running
  uint64_t start_ticks = 0;  // /proc/<pid>/stat field 22 when spawned (pid reuse guard)
  std::map<std::string, int> ports;
  InstanceRole role = InstanceRole::kCanary;
  int restarts = 0;
  int consecutive_failures = 0;
  int64_t started_at_ms = 0;
  bool terminating = false;
  // Readiness as last observed, so that a restarted controller adopts a ready instance as ready
  // (as Kubernetes keeps a Pod's Ready condition across a kubelet restart) instead of routing
  // no traffic to it until its first probe answers.
  bool ready = false;
  int64_t ready_since_ms = 0;
};

struct StoredRevision {
  RevisionSpec spec;
  int replicas = 0;
};

class StateStore {
 public:
  explicit StateStore(std::string state_dir);  // uses <state_dir>/runtime

  Status init();  // creates the directories

  std::string log_path(const std::string& id) const;
  std::string role_path(const std::string& id) const;
  std::string kept_log_path(const std::string& rollout, int64_t revision,
                            const std::string& id) const;

  Status write_instance(const InstanceRecord& record);
  void remove_instance(const std::string& id);  // record, role file and logs
  // remove_instance(), but the last kKeptLogBytes of the log move to kept_log_path().
  void retire_instance(const InstanceRecord& record);
  // Removes the kept logs of one revision, or of every revision when revision is absent.
  void remove_kept_logs(const std::string& rollout, std::optional<int64_t> revision);
  struct KeptLog {
    int64_t revision = 0;
    std::string id;
  };
  std::vector<KeptLog> kept_logs(const std::string& rollout) const;  // by revision, then id
  // The size the live log (without .1) had when the instance was retired: the kept file ends
  // with those bytes, so a follower that had read up to offset N of the live log continues at
  // kept size - that size + N. nullopt when unknown.
  std::optional<uint64_t> kept_live_size(const std::string& rollout, int64_t revision,
                                         const std::string& id) const;
  Status write_revision(const RevisionSpec& spec, int replicas);
  void remove_revision(const std::string& rollout, int64_t revision);
  Status write_role(const std::string& id, InstanceRole role);

  struct Loaded {
    std::vector<InstanceRecord> instances;
    std::vector<StoredRevision> revisions;
    std::vector<std::string> problems;  // unreadable records (skipped)
  };
  Loaded load() const;

 private:
  std::string root_;
};

// How much of a gone instance's log is kept: enough for "why did the canary fail?", and small
// enough that revisionHistoryLimit revisions of kept logs stay a few MiB per replica.
inline constexpr size_t kKeptLogBytes = 1 << 20;

// Writes `content` to `path` atomically (temp + fsync + rename + fsync dir).
Status write_file_atomically(const std::string& path, const std::string& content, bool sync);

}  // namespace sluice::runtime
