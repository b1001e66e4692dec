// End to end with a real Kafka broker (KRaft, loopback): `sluice serve` rolls out orders-stream,
// a consumer-group service with no front door, while orders-load produces 50,000
// sequence-numbered records at a steady rate. Each case then reads the output topic from the
// beginning and checks, from the records themselves:
//   - 0 lost: every seq 0..49,999 has an output record;
//   - duplicates within the bound of each hand-over (kCleanHandOverDuplicates for blue-green,
//     kRebalanceDuplicates per step of a canary);
//   - the group's lag (committed offsets vs high watermarks, sampled every 100 ms) is back to
//     its steady-load baseline within kLagRecovery of every step;
//   - canary: the replica counts at each step, never more than replicas + maxSurge instances;
//     blue-green: one version at a time (the time-ordered records form exactly the expected
//     runs of versions, so the hand-over window is 0).
// Both TEST_CASEs start one broker and run two cases on it (a fresh topic and group each).
#include <signal.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/kafka_e2e.h"

using namespace sluice::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int64_t kMessages = 50'000;
constexpr int kPartitions = 8;
constexpr int kRate = 2'000;  // records/s: 25 s of production spans each rollout
constexpr int kCanaryReplicas = 4;
constexpr int kMaxSurge = 1;
constexpr int kBlueGreenReplicas = 2;
// A clean hand-over loses and repeats nothing: orders-stream commits an offset only after its
// output record is acknowledged, and on revoke, deactivate and SIGTERM it finishes its
// in-flight record, flushes and commits synchronously before the partition moves. The bound on
// duplicates per hand-over is therefore its uncommitted window, which is empty unless an
// instance is SIGKILLed (none is here: only `sluice serve` is). So: 0.
constexpr int64_t kCleanHandOverDuplicates = 0;
// A canary changes the group while it consumes: members join and leave (cooperative-sticky
// rebalances) next to members that keep processing. Measured here, that is NOT always clean:
// some runs reprocess a few hundred records at one step (0 in others), and bench_kafka_handover
// reproduces it with a naive hand-over (both versions subscribed, the old one SIGTERMed). The
// bound that holds is orders-stream's uncommitted window: it commits its stored offsets every
// second, so a lost commit at a rebalance repeats at most one second of the group's input.
constexpr int64_t kCommitIntervalMs = 1'000;
constexpr int64_t kRebalanceDuplicates = kRate * kCommitIntervalMs / 1'000;
// "Back to baseline": at most the largest lag of the steady load before the rollout plus half
// a second of production (sampling and commit jitter), within 30 s of each step. A liveness
// check (the group catches up after a step), not a speed target: beside other suites on 2
// cores a hand-over once took more than 10 s to drain. How fast it drains is measured by
// bench_kafka_handover.
constexpr int64_t kLagSlack = kRate / 2;
constexpr int64_t kLagRecoveryMs = 30'000;

std::unique_ptr<KafkaBroker> start_broker() {
  KafkaBrokerOptions options;
  options.num_partitions = kPartitions;
  auto started = KafkaBroker::start(options);
  if (!started) FAIL("Kafka could not be started: " << started.status().message());
  return std::move(started).value();
}

KafkaCase new_case(KafkaBroker& broker, const std::string& prefix) {
  auto created = create_kafka_case(broker, prefix, kPartitions);
  if (!created) FAIL("topics for " << prefix << ": " << created.status().message());
  return std::move(created).value();
}

// The scrape gate both strategies use: no failed record in the new version.
const char* kNoFailedRecords = R"YAML(apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: no-failed-records}
spec:
  metrics:
    - name: failed-records
      interval: 500ms
      failureLimit: 0
      successCondition: result == 0
      provider:
        scrape: {metric: failed_total, version: canary, aggregate: rate, port: http}
)YAML";

// Post-promotion analysis must end for the rollout to complete: 6 measurements (3 s).
const std::string kNoFailedRecordsCounted = [] {
  std::string t = kNoFailedRecords;
  const std::string at = "      interval: 500ms\n";
  return t.replace(t.find(at), at.size(), at + "      count: 6\n");
}();

const char* kCanary = R"YAML(    canary:
      maxSurge: 1
      maxUnavailable: 0
      analysis:
        templates: [{templateName: no-failed-records}]
      steps: [{setWeight: 25}, {pause: {duration: 2s}}, {setWeight: 50}, {pause: {}}])YAML";

const char* kBlueGreen = R"YAML(    blueGreen:
      autoPromotionEnabled: true
      autoPromotionSeconds: 1
      postPromotionAnalysis: {templates: [{templateName: no-failed-records}]}
      scaleDownDelaySeconds: 2
      abortScaleDownDelaySeconds: 2)YAML";

// Commits the first revision, starts serve and waits until it is healthy.
void bring_up(E2eEnv& env, const std::string& manifest) {
  install_orders_stream(env);
  env.write("stream.yaml", manifest);
  const std::string sha = env.commit("stream 1.0.0");
  if (std::string why; !env.start_serve(why)) FAIL(why);
  auto healthy = env.cli({"status", "stream", "--wait", "--revision", sha, "--timeout", "60s"});
  INFO(healthy.out << healthy.err);
  REQUIRE(healthy.exit_code == 0);
}

// Starts the producer and the lag sampler; returns the baseline: the largest lag over the
// steady load before the rollout (the 3 s after the first second of production).
int64_t start_load(std::unique_ptr<KafkaLoad>& load, std::unique_ptr<LagSampler>& sampler,
                   const E2eEnv& env, const KafkaCase& kafka) {
  auto reader = GroupLagReader::open(kafka.brokers, kafka.group, kafka.input);
  REQUIRE(reader.is_ok());
  sampler = std::make_unique<LagSampler>(std::move(reader).value(), 100ms);
  load = std::make_unique<KafkaLoad>(env.dir(), kafka, kRate, kMessages);
  std::this_thread::sleep_for(4s);
  REQUIRE(load->running());
  const auto baseline = max_lag(sampler->samples(), load->started_ms() + 1000, unix_now_ms());
  REQUIRE(baseline.has_value());
  return *baseline;
}

// One case up to the commit of 2.0.0: fresh topics and group, serve with 1.0.0 healthy, the
// producer and the lag sampler running (the baseline taken), then 2.0.0 committed, failing
// `fail_rate` of its attempts. Members are destroyed in reverse: load and sampler first.
struct RolloutCase {
  KafkaCase kafka;
  std::unique_ptr<E2eEnv> env;
  std::unique_ptr<KafkaLoad> load;
  std::unique_ptr<LagSampler> sampler;
  int64_t baseline = 0;
  int64_t committed_ms = 0;
  std::string sha2;
};

void start_case(RolloutCase& c, KafkaBroker& broker, const std::string& prefix, StreamRollout r,
                double fail_rate) {
  c.kafka = new_case(broker, prefix);
  c.env = std::make_unique<E2eEnv>();
  bring_up(*c.env, stream_manifest(*c.env, c.kafka, r));
  c.baseline = start_load(c.load, c.sampler, *c.env, c.kafka);
  r.version = "2.0.0";
  r.fail_rate = fail_rate;
  c.env->write("stream.yaml", stream_manifest(*c.env, c.kafka, r));
  c.committed_ms = unix_now_ms();
  c.sha2 = c.env->commit(fail_rate > 0 ? "stream 2.0.0 (fails some attempts)" : "stream 2.0.0");
}

// Waits for the producer, then for the group to commit everything; audits the output topic.
std::vector<ProcessedRecord> finish(KafkaLoad& load, const KafkaCase& kafka) {
  auto summary = load.wait(120s);
  INFO((summary ? summary->dump() : summary.status().message()));
  REQUIRE(summary.is_ok());
  CHECK(summary->value("produced", int64_t{0}) == kMessages);
  auto records = drain_and_read(kafka, 120s);
  INFO((records ? "" : records.status().message()));
  REQUIRE(records.is_ok());
  return std::move(records).value();
}

void check_no_loss(const ProcessedAudit& audit) {
  INFO(audit.summary());
  CHECK(audit.lost == 0);
  CHECK(audit.distinct == kMessages);
  CHECK(audit.strays == 0);
}

// The lag is back to baseline + slack within kLagRecoveryMs of each of `steps_ms`.
void check_lag_recovers(const std::vector<LagSample>& samples, int64_t baseline,
                        const std::vector<int64_t>& steps_ms, int64_t origin_ms) {
  int errors = 0;
  for (const LagSample& s : samples) errors += s.lag < 0 ? 1 : 0;
  CHECK(errors * 10 < static_cast<int>(samples.size()));  // nearly every sample measured
  for (int64_t step : steps_ms) {
    const auto recovered =
        ms_until_lag_at_most(samples, step, baseline + kLagSlack, kLagRecoveryMs);
    INFO("step at +" << step - origin_ms << " ms: baseline " << baseline << ", most lag after it "
                     << max_lag(samples, step, step + kLagRecoveryMs).value_or(-1));
    CHECK(recovered.has_value());
  }
}

std::string lag_text(const std::vector<LagSample>& samples, int64_t from_ms) {
  std::string out;
  for (const LagSample& s : samples) {
    if (s.at_ms >= from_ms) out += fmt::format(" {}@{}", s.lag, (s.at_ms - from_ms) / 100 * 100);
  }
  return out;
}

// The times at which the step index or the phase changed, after `from_ms`.
std::vector<int64_t> step_times(const RolloutTrace& trace, int64_t from_ms) {
  std::vector<int64_t> out;
  for (size_t i = 1; i < trace.changes.size(); ++i) {
    const auto& c = trace.changes[i];
    const auto& prev = trace.changes[i - 1];
    if (c.at_ms >= from_ms && (c.step != prev.step || c.phase != prev.phase)) {
      out.push_back(c.at_ms);
    }
  }
  return out;
}

// The start of every run after the first: when the next version began processing.
std::vector<int64_t> hand_over_times(const ProcessedAudit& audit) {
  std::vector<int64_t> out;
  for (size_t i = 1; i < audit.runs.size(); ++i) out.push_back(audit.runs[i].first_ms);
  return out;
}

// For a failure message: the duplicates by the step they follow, and the first few repeated
// seqs with who processed them when.
std::string duplicates_text(const std::vector<ProcessedRecord>& records,
                            const std::vector<int64_t>& steps_ms, int64_t origin_ms) {
  std::string out = "duplicates after each step:";
  for (int64_t n : duplicates_by_handover(records, steps_ms)) out += fmt::format(" {}", n);
  std::map<int64_t, std::vector<const ProcessedRecord*>> by_seq;
  for (const ProcessedRecord& r : records) by_seq[r.seq].push_back(&r);
  int shown = 0;
  for (const auto& [seq, seen] : by_seq) {
    if (seen.size() < 2 || ++shown > 5) continue;
    out += fmt::format("\n  seq {} (partition {} offset {}):", seq, seen[0]->partition,
                       seen[0]->offset);
    for (const auto* r : seen) {
      out +=
          fmt::format(" {} {} at +{} ms;", r->version, r->instance, r->processed_at_ms - origin_ms);
    }
  }
  return out;
}

// Each step's duplicates (those processed after it and before the next) within `bound`.
void check_duplicates_per_step(const std::vector<ProcessedRecord>& records,
                               const std::vector<int64_t>& steps_ms, int64_t bound) {
  const auto per_step = duplicates_by_handover(records, steps_ms);
  for (size_t i = 0; i < per_step.size(); ++i) {
    INFO("duplicates after step " << i << " (0: before the first)");
    CHECK(per_step[i] <= bound);
  }
}

}  // namespace

TEST_CASE(
    "kafka canary by replica ratio: promoted across kill -9 of serve at the paused step "
    "and a failing canary rolled back - none lost",
    "[e2e][kafka]") {
  auto broker = start_broker();

  {
    INFO("case 1: canary promoted across kill -9 of sluice serve");
    RolloutCase c;
    start_case(c, *broker, "promoted",
               {.version = "1.0.0",
                .replicas = kCanaryReplicas,
                .strategy = kCanary,
                .templates = kNoFailedRecords},
               0);
    E2eEnv& env = *c.env;
    const KafkaCase& kafka = c.kafka;
    auto& load = c.load;
    auto& sampler = c.sampler;
    const int64_t baseline = c.baseline, committed_ms = c.committed_ms;
    const std::string& sha2 = c.sha2;
    RolloutTrace trace;
    const bool paused = watch_rollout(
        env, "stream",
        [&](const json& j) {
          return at_commit(j, sha2) && j.value("currentStepIndex", -1) == 3 &&
                 j.value("phase", "") == "Paused";
        },
        90s, trace);
    INFO(trace.text() << trace.last.dump(2));
    REQUIRE(paused);
    CHECK(trace.replicas_at_step(1) == std::pair{1, 3});  // setWeight 25 of 4
    CHECK(trace.replicas_at_step(3) == std::pair{2, 2});  // setWeight 50 of 4

    // kill -9 of serve at the paused step: the instances run on, and the restarted serve finds
    // the rollout at the same step without restarting any of them.
    // (The stable instance stopped at setWeight 50 may still be draining: wait for its exit.)
    CHECK(poll_until(
        [&] { return env.instance_pids().size() == static_cast<size_t>(kCanaryReplicas); }, 30s));
    const auto instances = env.instance_pids();
    const int64_t killed_ms = unix_now_ms();
    env.kill_serve(SIGKILL);
    std::this_thread::sleep_for(1s);
    CHECK(env.instance_pids() == instances);
    if (std::string why; !env.start_serve(why)) FAIL(why);
    const json again = env.wait_rollout(
        "stream", [&](const json& j) { return j.value("currentStepIndex", -1) >= 0; }, 30s);
    CHECK(at_commit(again, sha2));
    CHECK(again.value("currentStepIndex", -1) == 3);
    CHECK(again.value("phase", "") == "Paused");
    CHECK(env.instance_pids() == instances);
    REQUIRE(load->running());  // the kill happened under load

    auto promoted = env.cli({"promote", "stream"});
    INFO(promoted.out << promoted.err);
    CHECK(promoted.exit_code == 0);
    const bool healthy = watch_rollout(
        env, "stream",
        [&](const json& j) { return at_commit(j, sha2) && j.value("phase", "") == "Healthy"; }, 90s,
        trace);
    INFO(trace.text());
    REQUIRE(healthy);
    CHECK(trace.last["stable"].value("version", "") == "2.0.0");
    CHECK(trace.most_serving <= static_cast<size_t>(kCanaryReplicas + kMaxSurge));
    CHECK(trace.most_serving >= static_cast<size_t>(kCanaryReplicas));
    CHECK(poll_until(
        [&] { return env.instance_pids().size() == static_cast<size_t>(kCanaryReplicas); }, 30s));
    const bool promoted_under_load = load->running();

    const auto records = finish(*load, kafka);
    sampler->stop();
    const ProcessedAudit audit = audit_processed(records, 0, kMessages);
    check_no_loss(audit);
    std::vector<int64_t> steps = step_times(trace, committed_ms);
    steps.push_back(killed_ms);
    std::sort(steps.begin(), steps.end());
    INFO(duplicates_text(records, steps, trace.changes.front().at_ms) << "\n" << trace.text());
    check_duplicates_per_step(records, steps, kRebalanceDuplicates);
    CHECK(audit.by_version.count("1.0.0"));
    CHECK(audit.by_version.count("2.0.0"));
    CHECK(promoted_under_load);
    const auto samples = sampler->samples();
    INFO("lag:" << lag_text(samples, committed_ms));
    check_lag_recovers(samples, baseline, step_times(trace, committed_ms), committed_ms);
    WARN(fmt::format(
        "kafka canary promoted across kill -9: {}; at most {} serving instances (cap "
        "{}), {} processes with the draining ones; lag baseline {}, highest {}",
        audit.summary(), trace.most_serving, kCanaryReplicas + kMaxSurge, trace.most_instances,
        baseline, max_lag(samples, committed_ms, unix_now_ms()).value_or(-1)));
  }
  {
    INFO("case 2: a canary that fails 30% of its attempts is rolled back by its gate");
    RolloutCase c;
    start_case(c, *broker, "failing",
               {.version = "1.0.0",
                .replicas = kCanaryReplicas,
                .strategy = kCanary,
                .templates = kNoFailedRecords},
               0.3);
    E2eEnv& env = *c.env;
    const KafkaCase& kafka = c.kafka;
    auto& load = c.load;
    auto& sampler = c.sampler;
    const int64_t baseline = c.baseline, committed_ms = c.committed_ms;
    const std::string& sha2 = c.sha2;
    RolloutTrace trace;
    const bool ended = watch_rollout(
        env, "stream",
        [&](const json& j) {
          return at_commit(j, sha2) &&
                 (j.value("phase", "") == "Degraded" || j.value("phase", "") == "Healthy");
        },
        90s, trace);
    INFO(trace.text() << trace.last.dump(2));
    REQUIRE(ended);
    CHECK(trace.last.value("phase", "") == "Degraded");
    CHECK(trace.last.value("aborted", false));
    CHECK(trace.last.value("message", "").find("failed-records") != std::string::npos);
    CHECK(trace.last["stable"].value("version", "") == "1.0.0");
    CHECK(trace.most_serving <= static_cast<size_t>(kCanaryReplicas + kMaxSurge));
    CHECK(load->running());  // rolled back under load
    CHECK(poll_until(
        [&] { return env.instance_pids().size() == static_cast<size_t>(kCanaryReplicas); }, 60s));

    const auto records = finish(*load, kafka);
    sampler->stop();
    const ProcessedAudit audit = audit_processed(records, 0, kMessages);
    check_no_loss(audit);
    const std::vector<int64_t> steps = step_times(trace, committed_ms);
    INFO(duplicates_text(records, steps, trace.changes.front().at_ms));
    check_duplicates_per_step(records, steps, kRebalanceDuplicates);
    CHECK(audit.by_version.count("2.0.0"));  // it did process before it was rolled back
    const auto samples = sampler->samples();
    INFO("lag:" << lag_text(samples, committed_ms));
    check_lag_recovers(samples, baseline, step_times(trace, committed_ms), committed_ms);
    WARN(fmt::format("kafka failing canary rolled back: {}; lag baseline {}, highest {}",
                     audit.summary(), baseline,
                     max_lag(samples, committed_ms, unix_now_ms()).value_or(-1)));
  }
}

TEST_CASE(
    "kafka blue-green: hand-over and post-promotion rollback with one version at a time "
    "- none lost",
    "[e2e][kafka]") {
  auto broker = start_broker();
  struct Case {
    const char* prefix;
    double fail_rate;
    std::vector<std::string> runs;  // the versions, in time order, that must have processed
    int status_exit;                // of `sluice status --wait` for 2.0.0
  };
  const Case cases[] = {
      {"handover", 0, {"1.0.0", "2.0.0"}, 0},
      {"rollback", 0.3, {"1.0.0", "2.0.0", "1.0.0"}, 1},
  };
  for (const Case& c : cases) {
    INFO("case " << c.prefix);
    RolloutCase rc;
    start_case(rc, *broker, c.prefix,
               {.version = "1.0.0",
                .replicas = kBlueGreenReplicas,
                .hand_over = true,
                .strategy = kBlueGreen,
                .templates = kNoFailedRecordsCounted},
               c.fail_rate);
    E2eEnv& env = *rc.env;
    const KafkaCase& kafka = rc.kafka;
    auto& load = rc.load;
    auto& sampler = rc.sampler;
    const int64_t baseline = rc.baseline, committed_ms = rc.committed_ms;
    const std::string& sha2 = rc.sha2;
    auto status = env.cli({"status", "stream", "--wait", "--revision", sha2, "--timeout", "90s"});
    INFO(status.out << status.err);
    CHECK(status.exit_code == c.status_exit);
    const json rollout = env.rollout("stream");
    INFO(rollout.dump(2));
    CHECK(rollout["stable"].value("version", "") == (c.status_exit == 0 ? "2.0.0" : "1.0.0"));
    CHECK(rollout.value("aborted", false) == (c.status_exit != 0));
    const bool switched_under_load = load->running();

    const auto records = finish(*load, kafka);
    sampler->stop();
    const ProcessedAudit audit = audit_processed(records, 0, kMessages);
    check_no_loss(audit);
    INFO("runs: " << audit.runs_text());
    // One version at a time: the records in time order are exactly these runs, so every record
    // of the next version was processed at or after the last one of the version before it.
    CHECK(audit.run_versions() == c.runs);
    const auto hand_overs = hand_over_times(audit);
    check_duplicates_per_step(records, hand_overs, kCleanHandOverDuplicates);
    CHECK(switched_under_load);
    const auto samples = sampler->samples();
    INFO("lag:" << lag_text(samples, committed_ms));
    check_lag_recovers(samples, baseline, hand_overs, committed_ms);
    std::string gaps;
    for (size_t i = 1; i < audit.runs.size(); ++i) {
      gaps += fmt::format(" {} ms", audit.runs[i].first_ms - audit.runs[i - 1].last_ms);
    }
    WARN(
        fmt::format("kafka blue-green {}: {}; runs {}; idle gap at each switch:{}; lag "
                    "baseline {}, highest {}",
                    c.prefix, audit.summary(), audit.runs_text(), gaps, baseline,
                    max_lag(samples, committed_ms, unix_now_ms()).value_or(-1)));
  }
}
