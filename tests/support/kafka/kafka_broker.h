// A real Apache Kafka broker for tests: the jars `make peers` puts in
// ${SLUICE_PEERS_DIR:-$HOME/.cache/sluice/peers}/kafka/libs, run by /usr/bin/java as one
// KRaft node that is both broker and controller (node.id 1, static voter set), listening on
// 127.0.0.1 only, on two kernel-picked free ports, with its config, logs and data in a temp
// dir. Auto-created topics get `num_partitions`; every internal topic has replication factor 1.
//
// A missing peer is an error, never a skip: start() fails with peer_path()'s one-line
// FailedPrecondition ("peer kafka/libs is missing from ...: run `make peers` ...").
//
// The destructor stops the broker (SIGTERM, then SIGKILL of its process group after ~15 s) and
// removes the temp dir, also when the test failed. Set SLUICE_KEEP_TEST_DIRS to keep the dir.
//
// Threads: use from one thread. The broker process is the only thing it owns; clients are the
// test's.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "base/status.h"

namespace sluice::testing {

class ChildProcess;

struct KafkaBrokerOptions {
  // num.partitions: the partition count of topics the broker creates on first use.
  int num_partitions = 1;
  // Budget for start() (formatting the storage, then the first answered metadata request) and
  // for each restart().
  std::chrono::seconds start_timeout{90};
  // JVM heap, both -Xms and -Xmx (e.g. "512m").
  std::string heap = "512m";
};

class KafkaBroker {
 public:
  // Formats the storage, starts the JVM and returns once a librdkafka metadata request answers
  // with this broker in it. Fails with the reason and the tail of the broker's log when the
  // JVM exits or start_timeout passes.
  static Result<std::unique_ptr<KafkaBroker>> start(const KafkaBrokerOptions& options = {});
  ~KafkaBroker();
  KafkaBroker(const KafkaBroker&) = delete;
  KafkaBroker& operator=(const KafkaBroker&) = delete;

  // "127.0.0.1:<port>", for bootstrap.servers.
  const std::string& bootstrap_servers() const { return bootstrap_servers_; }
  int port() const { return port_; }
  // log.dirs: the topic partitions and the KRaft metadata log. Kept across kill()/restart().
  std::string data_dir() const;
  // The JVM's pid while it runs, else -1 (e.g. to read /proc/<pid>/status).
  pid_t pid() const;

  // Creates `name` with `partitions` partitions (replication factor 1) through the admin API
  // and returns once every partition has a leader in the broker's metadata. Bounded (30 s).
  Status create_topic(const std::string& name, int partitions);

  // SIGKILL, no clean shutdown: the data dir stays, as after a crash. For crash tests.
  Status kill();
  // Starts the broker again on the same ports and data dir (stopping it first, gracefully, if
  // it runs) and waits until it answers, as start() does.
  Status restart();
  // SIGTERM, up to ~15 s for a clean shutdown, then SIGKILL of the process group; removes the
  // temp dir. Idempotent; the destructor calls it. After stop(), restart() fails.
  Status stop();

 private:
  KafkaBroker();
  // Spawns the JVM and waits (until `deadline`) for it to answer.
  Status launch(std::chrono::steady_clock::time_point deadline);
  Status wait_ready(std::chrono::steady_clock::time_point deadline);
  // Stops the JVM (SIGTERM then SIGKILL, or SIGKILL only) and keeps the temp dir.
  Status terminate(bool graceful);
  std::string log_tail() const;

  KafkaBrokerOptions options_;
  std::string libs_;  // the peer's jar dir, passed to java as "<libs>/*"
  std::string dir_;   // temp dir: server.properties, log4j2.properties, logs, data/
  std::string bootstrap_servers_;
  int port_ = 0;
  int controller_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  bool stopped_ = false;
};

}  // namespace sluice::testing
