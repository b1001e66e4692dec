// The pieces the Kafka rollout tests and bench_kafka share: a fresh input/output topic and
// consumer group per case on a real broker, orders-stream Rollout manifests, orders-load in its
// Kafka mode as the steady producer, a watcher that records what the controller did while a
// rollout ran, and the end-of-case read-back (wait for the group to commit everything, then
// read the output topic from the beginning).
//
// Thread-compatible: one test thread uses each object.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/rollouts/e2e_env.h"
#include "tests/support/kafka/group_lag.h"
#include "tests/support/kafka/kafka_broker.h"
#include "tests/support/kafka/processed_topic.h"

namespace sluice::testing {

// One case's topics and group on a shared broker; names carry `prefix` so cases never meet.
struct KafkaCase {
  std::string brokers;
  std::string input;   // what orders-load produces and orders-stream consumes
  std::string output;  // orders-stream's processed records
  std::string group;
};
// Creates `<prefix>-orders` with `partitions` partitions and `<prefix>-processed` (2).
Result<KafkaCase> create_kafka_case(KafkaBroker& broker, const std::string& prefix, int partitions);

// Copies bin/orders-stream into the environment's repository: the manifests run it from the
// checkout, as they do orders-api and orders-worker.
void install_orders_stream(const E2eEnv& env);

struct StreamRollout {
  std::string name = "stream";
  std::string version;
  int replicas = 4;
  double fail_rate = 0;
  // true: lifecycle activate/deactivate hooks and instances start inactive (blue-green);
  // false: --start-active and no hooks (canary by replica ratio).
  bool hand_over = false;
  std::string strategy;   // the YAML under `spec.strategy:`, indented by four spaces
  std::string templates;  // AnalysisTemplate documents appended after the Rollout
};
std::string stream_manifest(const E2eEnv& env, const KafkaCase& kafka, const StreamRollout& r);

// orders-load --kafka-brokers ... --rate R --count N --start-seq S --output json, as a child.
class KafkaLoad {
 public:
  KafkaLoad(const std::string& dir, const KafkaCase& kafka, int rate, int64_t count,
            int64_t start_seq = 0);
  bool running();
  // Waits for the exit (bounded); the printed summary, or an error with the log tail.
  Result<nlohmann::json> wait(std::chrono::milliseconds timeout);
  int64_t started_ms() const { return started_ms_; }
  int64_t finished_ms() const { return finished_ms_; }  // 0 until wait() saw the exit

 private:
  std::string out_;
  std::unique_ptr<ChildProcess> process_;
  int64_t started_ms_ = 0;
  int64_t finished_ms_ = 0;
};

// What polling GET /api/v1/rollouts/NAME (and the instances' pids) showed over a rollout.
struct RolloutTrace {
  // Processes carrying the environment's marker, draining ones (SIGTERMed, not yet exited)
  // included.
  size_t most_instances = 0;
  // Instances in the rollout object that are not terminating: what maxSurge bounds (as in
  // Kubernetes, an instance that has been told to stop no longer counts).
  size_t most_serving = 0;
  // Wall-clock ms of each change of (currentStepIndex, phase, canary replicas, stable
  // replicas), with the new values.
  struct Change {
    int64_t at_ms = 0;
    int step = -1;
    std::string phase;
    int canary_replicas = 0;
    int stable_replicas = 0;
  };
  std::vector<Change> changes;
  nlohmann::json last;
  // The (canary, stable) replica counts last seen at step `step`; {-1,-1} if never seen.
  std::pair<int, int> replicas_at_step(int step) const;
  std::string text() const;
};

// Polls every ~100 ms until `done(rollout)` holds or `timeout`; appends to `trace`.
bool watch_rollout(E2eEnv& env, const std::string& name,
                   const std::function<bool(const nlohmann::json&)>& done,
                   std::chrono::milliseconds timeout, RolloutTrace& trace);

// True when the rollout object belongs to the commit `sha` (desired.commit starts with it).
bool at_commit(const nlohmann::json& rollout, const std::string& sha);

// Waits (bounded) until the group has committed everything produced to the input topic, then
// reads the output topic from the beginning.
Result<std::vector<ProcessedRecord>> drain_and_read(const KafkaCase& kafka,
                                                    std::chrono::milliseconds timeout);

}  // namespace sluice::testing
