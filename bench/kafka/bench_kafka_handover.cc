// bench_kafka_handover: messages reprocessed per blue-green hand-over of a Kafka consumer group
// under load (issue 18). orders-stream, 2 instances per version, 8 partitions, a steady
// 2,000 records/s, three hand-overs 1.0.0 -> 2.0.0 -> 3.0.0 -> 4.0.0:
//   sluice: blue-green rollouts through `sluice serve` (deactivate every old instance - finish,
//           flush, commit, leave the group - and only then activate the new ones);
//   peer:   the naive hand-over without the deactivate hook, run by this bench: the new
//           version's instances start already subscribed (--start-active) next to the old ones,
//           and once they are up the old ones get SIGTERM.
// Reprocessed = output records of a seq beyond its first, attributed to the hand-over they
// follow. Also prints the overlap per hand-over (how long two versions processed at once).
// Prints the configuration, median and max of each, and the ratio. Loopback only; bounded.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "tests/e2e/rollouts/kafka_e2e.h"

namespace {

using namespace sluice::testing;
using namespace std::chrono_literals;
using sluice::Result;
using sluice::unavailable;

constexpr int kPartitions = 8;
constexpr int kRate = 2'000;
constexpr int64_t kMessages = 70'000;  // 35 s: spans the three hand-overs
constexpr int kInstances = 2;
const std::vector<std::string> kVersions = {"1.0.0", "2.0.0", "3.0.0", "4.0.0"};

struct Outcome {
  std::vector<int64_t> reprocessed;  // per hand-over
  std::vector<int64_t> overlap_ms;   // per hand-over; 0 when the versions never overlapped
  std::string audit;
};

// Reads everything back and attributes duplicates to the hand-overs that started at `starts`.
Result<Outcome> outcome(const KafkaCase& kafka, KafkaLoad& load,
                        const std::vector<int64_t>& starts) {
  auto summary = load.wait(120s);
  if (!summary) return summary.status();
  auto records = drain_and_read(kafka, 120s);
  if (!records) return records.status();
  Outcome o;
  const auto audit = audit_processed(*records, 0, kMessages);
  if (audit.lost != 0) return unavailable("lost records: " + audit.summary());
  o.audit = audit.summary();
  const auto per = duplicates_by_handover(*records, starts);
  o.reprocessed.assign(per.begin() + 1, per.end());
  std::map<std::string, std::pair<int64_t, int64_t>> span;  // version -> first, last ms
  for (const auto& r : *records) {
    auto [it, fresh] = span.try_emplace(r.version, r.processed_at_ms, r.processed_at_ms);
    it->second.first = std::min(it->second.first, r.processed_at_ms);
    it->second.second = std::max(it->second.second, r.processed_at_ms);
  }
  for (size_t i = 1; i < kVersions.size(); ++i) {
    const auto& old_span = span[kVersions[i - 1]];
    const auto& new_span = span[kVersions[i]];
    o.overlap_ms.push_back(std::max<int64_t>(0, old_span.second - new_span.first));
  }
  return o;
}

Result<Outcome> run_sluice(KafkaBroker& broker) {
  auto kafka = create_kafka_case(broker, "sluice", kPartitions);
  if (!kafka) return kafka.status();
  E2eEnv env;
  install_orders_stream(env);
  StreamRollout r{.version = kVersions[0],
                  .replicas = kInstances,
                  .hand_over = true,
                  .strategy = R"YAML(    blueGreen:
      autoPromotionEnabled: true
      autoPromotionSeconds: 1
      scaleDownDelaySeconds: 1)YAML",
                  .templates = ""};
  env.write("stream.yaml", stream_manifest(env, *kafka, r));
  const std::string sha = env.commit(r.version);
  std::string why;
  if (!env.start_serve(why)) return unavailable(why);
  if (env.cli({"status", "stream", "--wait", "--revision", sha, "--timeout", "60s"}).exit_code) {
    return unavailable("1.0.0 not healthy");
  }
  KafkaLoad load(env.dir(), *kafka, kRate, kMessages);
  std::this_thread::sleep_for(3s);
  std::vector<int64_t> starts;
  for (size_t i = 1; i < kVersions.size(); ++i) {
    r.version = kVersions[i];
    env.write("stream.yaml", stream_manifest(env, *kafka, r));
    starts.push_back(unix_now_ms());
    const std::string next = env.commit(r.version);
    auto st = env.cli({"status", "stream", "--wait", "--revision", next, "--timeout", "60s"});
    if (st.exit_code != 0) return unavailable(r.version + " not healthy: " + st.out + st.err);
    std::this_thread::sleep_for(2s);
  }
  if (!load.running()) return unavailable("the load ended before the last hand-over");
  return outcome(*kafka, load, starts);
}

Result<Outcome> run_naive(KafkaBroker& broker) {
  auto kafka = create_kafka_case(broker, "naive", kPartitions);
  if (!kafka) return kafka.status();
  TempDir dir;
  int started = 0;
  auto start_version = [&](const std::string& version) -> Result<std::vector<Service>> {
    std::vector<Service> out;
    for (int i = 0; i < kInstances; ++i) {
      auto s = start_service("orders-stream",
                             {"--version", version, "--topic", kafka->input, "--output-topic",
                              kafka->output, "--group", kafka->group, "--start-active"},
                             {"KAFKA_BOOTSTRAP_SERVERS=" + kafka->brokers}, dir,
                             "stream-" + std::to_string(++started));
      if (!s) return s.status();
      out.push_back(std::move(s).value());
    }
    for (auto& s : out) {
      if (!poll_until(
              [&] {
                auto h = http(s.port, "GET", "/healthz");
                return h.is_ok() && h->status == 200;
              },
              30s)) {
        return unavailable(version + " did not become healthy");
      }
    }
    return out;
  };
  auto current = start_version(kVersions[0]);
  if (!current) return current.status();
  KafkaLoad load(dir.path(), *kafka, kRate, kMessages);
  std::this_thread::sleep_for(3s);
  std::vector<int64_t> starts;
  for (size_t i = 1; i < kVersions.size(); ++i) {
    starts.push_back(unix_now_ms());
    auto next = start_version(kVersions[i]);
    if (!next) return next.status();
    std::this_thread::sleep_for(1s);  // the new instances join the group next to the old ones
    for (auto& s : *current) s.process->signal(SIGTERM);
    for (auto& s : *current) {
      if (!s.process->wait_exit(30s)) return unavailable("an old instance ignored SIGTERM");
    }
    current = std::move(next);
    std::this_thread::sleep_for(4s);
  }
  if (!load.running()) return unavailable("the load ended before the last hand-over");
  return outcome(*kafka, load, starts);
}

std::string stats(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  std::string all;
  for (int64_t x : v) all += fmt::format(" {}", x);
  return fmt::format("[{} ] median {} max {}", all, v.empty() ? 0 : v[v.size() / 2],
                     v.empty() ? 0 : v.back());
}

}  // namespace

int main() {
  std::printf(
      "records reprocessed per blue-green hand-over of a Kafka consumer group under load\n"
      "config: orders-stream x%d per version, %d partitions, cooperative-sticky, %d records/s,\n"
      "        %lld records, %zu hand-overs per run\n",
      kInstances, kPartitions, kRate, static_cast<long long>(kMessages), kVersions.size() - 1);
  KafkaBrokerOptions options;
  options.num_partitions = kPartitions;
  auto broker = KafkaBroker::start(options);
  if (!broker) return std::printf("kafka broker: %s\n", broker.status().message().c_str()), 1;
  const auto sluice = run_sluice(**broker);
  if (!sluice) return std::printf("sluice: %s\n", sluice.status().message().c_str()), 1;
  const auto naive = run_naive(**broker);
  if (!naive) return std::printf("peer: %s\n", naive.status().message().c_str()), 1;
  std::printf("sluice (deactivate, then activate): reprocessed %s; overlap ms %s\n",
              stats(sluice->reprocessed).c_str(), stats(sluice->overlap_ms).c_str());
  std::printf("        %s\n", sluice->audit.c_str());
  std::printf("peer   (both subscribed, old SIGTERMed): reprocessed %s; overlap ms %s\n",
              stats(naive->reprocessed).c_str(), stats(naive->overlap_ms).c_str());
  std::printf("        %s\n", naive->audit.c_str());
  int64_t sluice_total = 0, naive_total = 0;
  for (int64_t x : sluice->reprocessed) sluice_total += x;
  for (int64_t x : naive->reprocessed) naive_total += x;
  std::printf("reprocessed in total: sluice %lld vs peer %lld (ratio peer/sluice %s)\n",
              static_cast<long long>(sluice_total), static_cast<long long>(naive_total),
              sluice_total == 0 ? "undefined: sluice reprocessed none"
                                : fmt::format("{:.1f}", static_cast<double>(naive_total) /
                                                            static_cast<double>(sluice_total))
                                      .c_str());
  return 0;
}
