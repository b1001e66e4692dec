#include "healthcheck/analysis/kafka_admin.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "healthcheck/analysis/rdkafka_ptr.h"

namespace sluice::analysis {

namespace {

constexpr auto kLogEvery = std::chrono::minutes(1);

// Milliseconds left before `deadline`, at least 1 (librdkafka reads 0 as "do not wait").
int remaining_ms(KafkaConnection::Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(1, left.count()));
}

bool expired(KafkaConnection::Deadline deadline) {
  return std::chrono::steady_clock::now() >= deadline;
}

Status failed(const std::string& step, rd_kafka_resp_err_t err) {
  return unavailable(step + ": " + rd_kafka_err2str(err));
}

}  // namespace

namespace {

// librdkafka's log lines, at most one a minute per bootstrapServers string in this process:
// clients are recreated after errors, so a limit per client would let a down broker log once
// per measurement.
class LogLimiter {
 public:
  static LogLimiter& instance() {
    static LogLimiter limiter;
    return limiter;
  }
  void log(const std::string& servers, int level, const char* facility, const char* text) {
    std::lock_guard lock(mu_);
    State& state = by_servers_[servers];
    const auto now = std::chrono::steady_clock::now();
    if (state.logged && now - state.last < kLogEvery) {
      ++state.suppressed;
      return;
    }
    spdlog::warn("kafka {}: librdkafka {} {}: {} ({} line(s) suppressed since the last one)",
                 servers, level, facility, text, state.suppressed);
    state = State{true, now, 0};
  }

 private:
  struct State {
    bool logged = false;
    std::chrono::steady_clock::time_point last{};
    int suppressed = 0;
  };
  std::mutex mu_;
  std::map<std::string, State> by_servers_;
};

}  // namespace

struct KafkaConnection::Impl {
  std::string servers;
  RdKafkaPtr<rd_kafka_t> rk;
};

namespace {

void log_to_spdlog(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  // Called on librdkafka's threads.
  if (auto* impl = static_cast<KafkaConnection::Impl*>(rd_kafka_opaque(rk))) {
    LogLimiter::instance().log(impl->servers, level, facility, text);
  }
}

// The topic's partition numbers from a metadata request for that topic only. The client is
// configured with allow.auto.create.topics=false, so asking never creates the topic.
Result<std::vector<int32_t>> topic_partitions(rd_kafka_t* rk, const std::string& topic,
                                              KafkaConnection::Deadline deadline) {
  RdKafkaPtr<rd_kafka_topic_t> handle(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  if (!handle)
    return unavailable("topic " + topic + ": " + rd_kafka_err2str(rd_kafka_last_error()));
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 0, handle.get(), &raw, remaining_ms(deadline));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return failed("metadata", err);
  RdKafkaPtr<const rd_kafka_metadata_t> md(raw);
  for (int t = 0; t < md->topic_cnt; ++t) {
    const rd_kafka_metadata_topic_t& meta = md->topics[t];
    if (topic != meta.topic) continue;
    if (meta.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      return not_found("topic " + topic + " does not exist");
    }
    if (meta.err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return failed("metadata of topic " + topic, meta.err);
    std::vector<int32_t> partitions;
    for (int p = 0; p < meta.partition_cnt; ++p) partitions.push_back(meta.partitions[p].id);
    std::sort(partitions.begin(), partitions.end());
    if (partitions.empty()) return not_found("topic " + topic + " does not exist");
    return partitions;
  }
  return not_found("topic " + topic + " does not exist");
}

RdKafkaPtr<rd_kafka_topic_partition_list_t> partition_list(const std::string& topic,
                                                           const std::vector<int32_t>& partitions,
                                                           int64_t offset) {
  RdKafkaPtr<rd_kafka_topic_partition_list_t> list(
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (int32_t p : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = offset;
  }
  return list;
}

// partition -> committed offset (-1 when none), from OffsetFetch through the admin API. A group
// that never committed (or does not exist) answers with no offsets, not with an error.
Result<std::vector<int64_t>> committed_offsets(rd_kafka_t* rk, const std::string& group,
                                               const std::string& topic,
                                               const std::vector<int32_t>& partitions,
                                               KafkaConnection::Deadline deadline) {
  char errstr[512];
  RdKafkaPtr<rd_kafka_AdminOptions_t> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS));
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), remaining_ms(deadline), errstr,
                                                sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable(std::string("admin options: ") + errstr);
  }
  auto list = partition_list(topic, partitions, RD_KAFKA_OFFSET_INVALID);
  RdKafkaPtr<rd_kafka_ListConsumerGroupOffsets_t> request(
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), list.get()));
  RdKafkaPtr<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk));
  rd_kafka_ListConsumerGroupOffsets_t* requests[] = {request.get()};
  rd_kafka_ListConsumerGroupOffsets(rk, requests, 1, options.get(), queue.get());
  // The request times out on its own at the deadline; the extra second lets that answer arrive.
  RdKafkaPtr<rd_kafka_event_t> event(
      rd_kafka_queue_poll(queue.get(), remaining_ms(deadline) + 1000));
  if (!event) return unavailable("committed offsets of group " + group + ": timed out");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("committed offsets of group " + group + ": " +
                       rd_kafka_event_error_string(event.get()));
  }
  const auto* result = rd_kafka_event_ListConsumerGroupOffsets_result(event.get());
  size_t count = 0;
  const rd_kafka_group_result_t** groups =
      result ? rd_kafka_ListConsumerGroupOffsets_result_groups(result, &count) : nullptr;
  if (count != 1) return unavailable("committed offsets of group " + group + ": no result");
  if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[0])) {
    return unavailable("committed offsets of group " + group + ": " + rd_kafka_error_string(e));
  }
  std::vector<int64_t> committed(partitions.size(), -1);
  if (const auto* offsets = rd_kafka_group_result_partitions(groups[0])) {
    for (int i = 0; i < offsets->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = offsets->elems[i];
      if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return failed("committed offset of partition " + std::to_string(tp.partition), tp.err);
      }
      auto at = std::lower_bound(partitions.begin(), partitions.end(), tp.partition);
      if (at == partitions.end() || *at != tp.partition || tp.offset < 0) continue;
      committed[static_cast<size_t>(at - partitions.begin())] = tp.offset;
    }
  }
  return committed;
}

// Log-end (RD_KAFKA_OFFSET_END) or earliest (RD_KAFKA_OFFSET_BEGINNING) offsets of `partitions`
// in one batched ListOffsets request per leader: ListOffsets reads the timestamps -1 and -2 as
// "latest" and "earliest".
Result<std::vector<int64_t>> log_offsets(rd_kafka_t* rk, const std::string& topic,
                                         const std::vector<int32_t>& partitions, int64_t which,
                                         KafkaConnection::Deadline deadline) {
  auto list = partition_list(topic, partitions, which);
  const char* what = which == RD_KAFKA_OFFSET_END ? "end offsets" : "earliest offsets";
  const rd_kafka_resp_err_t err =
      rd_kafka_offsets_for_times(rk, list.get(), remaining_ms(deadline));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return failed(std::string(what) + " of " + topic, err);
  std::vector<int64_t> offsets(partitions.size(), 0);
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return failed(std::string(what) + " of partition " + std::to_string(tp.partition), tp.err);
    }
    offsets[static_cast<size_t>(i)] = std::max<int64_t>(0, tp.offset);
  }
  return offsets;
}

}  // namespace

Result<std::unique_ptr<KafkaConnection>> KafkaConnection::open(
    const std::string& bootstrap_servers, std::chrono::milliseconds request_timeout) {
  const std::string socket_timeout_ms =
      std::to_string(std::max<int64_t>(10, request_timeout.count()));
  auto impl = std::make_unique<Impl>();
  impl->servers = bootstrap_servers;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  const std::pair<const char*, const char*> settings[] = {
      {"bootstrap.servers", bootstrap_servers.c_str()},
      {"client.id", "sluice-analysis"},
      {"socket.timeout.ms", socket_timeout_ms.c_str()},
      // Reading metadata must never create the topic it asks about.
      {"allow.auto.create.topics", "false"},
      // Reconnect soon after a broker comes back, so measurements recover within an interval.
      {"reconnect.backoff.max.ms", "1000"},
      {"log.connection.close", "false"},
      {"log_level", "4"},  // warnings and worse reach log_to_spdlog
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return invalid_argument(std::string(name) + ": " + errstr);
    }
  }
  rd_kafka_conf_set_log_cb(conf, log_to_spdlog);
  rd_kafka_conf_set_opaque(conf, impl.get());
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new owns conf only when it succeeds
    return invalid_argument(std::string("cannot create a client: ") + errstr);
  }
  impl->rk.reset(rk);
  return std::unique_ptr<KafkaConnection>(new KafkaConnection(std::move(impl)));
}

KafkaConnection::KafkaConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// The client goes first: its threads may still log through impl_ until rd_kafka_destroy returns.
KafkaConnection::~KafkaConnection() { impl_->rk.reset(); }

Result<TopicLag> KafkaConnection::read_lag(const std::string& group, const std::string& topic,
                                           Deadline deadline) {
  rd_kafka_t* rk = impl_->rk.get();
  auto partitions = topic_partitions(rk, topic, deadline);
  if (!partitions) return partitions.status();
  if (expired(deadline)) return unavailable("timed out after reading the topic's metadata");
  auto committed = committed_offsets(rk, group, topic, *partitions, deadline);
  if (!committed) return committed.status();
  if (expired(deadline)) return unavailable("timed out after reading the committed offsets");
  auto end = log_offsets(rk, topic, *partitions, RD_KAFKA_OFFSET_END, deadline);
  if (!end) return end.status();
  std::vector<int32_t> uncommitted;
  for (size_t i = 0; i < partitions->size(); ++i) {
    if ((*committed)[i] < 0) uncommitted.push_back((*partitions)[i]);
  }
  std::vector<int64_t> earliest;
  if (!uncommitted.empty()) {
    auto read = log_offsets(rk, topic, uncommitted, RD_KAFKA_OFFSET_BEGINNING, deadline);
    if (!read) return read.status();
    earliest = std::move(*read);
  }
  TopicLag out;
  size_t next_uncommitted = 0;
  for (size_t i = 0; i < partitions->size(); ++i) {
    PartitionLag p;
    p.partition = (*partitions)[i];
    p.committed = (*committed)[i];
    p.end = (*end)[i];
    if (p.committed < 0) p.earliest = earliest[next_uncommitted++];
    p.lag = std::max<int64_t>(0, p.end - (p.committed < 0 ? p.earliest : p.committed));
    out.total += p.lag;
    out.max_partition = std::max(out.max_partition, p.lag);
    if (p.committed < 0) ++out.uncommitted_partitions;
    out.partitions.push_back(p);
  }
  return out;
}

}  // namespace sluice::analysis
