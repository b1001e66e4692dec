#include "examples/services/common/kafka_client.h"

#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <set>
#include <sstream>
#include <thread>

#include "examples/services/common/service_util.h"

namespace sluice::examples {
namespace {

Result<RdKafkaPtr<const rd_kafka_metadata_t>> topic_metadata(rd_kafka_t* rk,
                                                             const std::string& topic,
                                                             int timeout_ms) {
  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (handle == nullptr) return internal_error("rd_kafka_topic_new " + topic);
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, handle, &raw, timeout_ms);
  rd_kafka_topic_destroy(handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("metadata of topic " + topic + ": " + rd_kafka_err2str(err));
  }
  return RdKafkaPtr<const rd_kafka_metadata_t>(raw);
}

}  // namespace

Result<RdKafkaPtr<rd_kafka_t>> make_kafka_client(
    rd_kafka_type_t type, const KafkaSettings& settings,
    const std::function<void(rd_kafka_conf_t*)>& configure) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return invalid_argument("librdkafka setting " + name + "=" + value + ": " + err);
    }
  }
  if (configure) configure(conf);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new owns conf only when it succeeds
    return internal_error(std::string("rd_kafka_new: ") + err);
  }
  return RdKafkaPtr<rd_kafka_t>(rk);
}

Status check_loopback_brokers(const std::string& brokers, const std::string& flag) {
  if (brokers.empty()) return invalid_argument(flag + " HOST:PORT[,HOST:PORT...] is required");
  std::stringstream list(brokers);
  std::string broker;
  while (std::getline(list, broker, ',')) {
    const size_t colon = broker.rfind(':');
    if (broker.empty() || colon == std::string::npos || colon == 0 || colon + 1 == broker.size()) {
      return invalid_argument(flag + ": '" + broker + "' is not HOST:PORT");
    }
    std::string host = broker.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* resolved = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), broker.substr(colon + 1).c_str(), &hints, &resolved);
        rc != 0) {
      return invalid_argument(flag + ": " + broker + ": " + ::gai_strerror(rc));
    }
    const bool loopback = is_loopback(resolved->ai_addr);
    ::freeaddrinfo(resolved);
    if (!loopback) return invalid_argument(flag + " must name loopback brokers only: " + broker);
  }
  return Status::ok();
}

Status probe_metadata(rd_kafka_t* rk, int timeout_ms) {
  const rd_kafka_metadata_t* raw = nullptr;
  // all_topics=0 and no topic: only the broker list.
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, nullptr, &raw, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return unavailable(rd_kafka_err2str(err));
  RdKafkaPtr<const rd_kafka_metadata_t> md(raw);
  if (md->broker_cnt == 0) return unavailable("the metadata lists no broker");
  return Status::ok();
}

Status produce_copy(rd_kafka_t* producer, const std::string& topic, const std::string& key,
                    const std::string& value, void* opaque, int timeout_ms) {
  rd_kafka_vu_t vus[5];
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = topic.c_str();
  vus[1].vtype = RD_KAFKA_VTYPE_KEY;
  vus[1].u.mem.ptr = const_cast<char*>(key.data());
  vus[1].u.mem.size = key.size();
  vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[2].u.mem.ptr = const_cast<char*>(value.data());
  vus[2].u.mem.size = value.size();
  vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[3].u.i = RD_KAFKA_MSG_F_COPY;
  vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[4].u.ptr = opaque;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    RdKafkaPtr<rd_kafka_error_t> error(rd_kafka_produceva(producer, vus, 5));
    if (!error) return Status::ok();
    if (rd_kafka_error_code(error.get()) != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return unavailable("produce to " + topic + ": " + rd_kafka_error_string(error.get()));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return unavailable("produce to " + topic + ": the local queue stayed full for " +
                         std::to_string(timeout_ms) + " ms");
    }
    rd_kafka_poll(producer, 50);  // serves delivery reports, which makes room
  }
}

Result<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  auto md = topic_metadata(rk, topic, timeout_ms);
  if (!md) return md.status();
  for (int t = 0; t < md.value()->topic_cnt; ++t) {
    const rd_kafka_metadata_topic_t& entry = md.value()->topics[t];
    if (topic != entry.topic) continue;
    if (entry.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return unavailable("topic " + topic + ": " + rd_kafka_err2str(entry.err));
    }
    return entry.partition_cnt;
  }
  return unavailable("topic " + topic + " is not in the broker's metadata");
}

Result<std::map<int32_t, int64_t>> high_watermarks(rd_kafka_t* rk, const std::string& topic,
                                                   int timeout_ms) {
  auto partitions = partition_count(rk, topic, timeout_ms);
  if (!partitions) return partitions.status();
  std::map<int32_t, int64_t> highs;
  for (int32_t p = 0; p < partitions.value(); ++p) {
    int64_t low = 0;
    int64_t high = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return unavailable("watermarks of " + topic + "[" + std::to_string(p) +
                         "]: " + rd_kafka_err2str(err));
    }
    highs[p] = high;
  }
  return highs;
}

Status read_to_high_watermarks(rd_kafka_t* consumer, const std::string& topic, int timeout_ms,
                               const std::function<void(const rd_kafka_message_t&)>& each) {
  auto highs = high_watermarks(consumer, topic, timeout_ms);
  if (!highs) return highs.status();
  RdKafkaPtr<rd_kafka_topic_partition_list_t> assignment(
      rd_kafka_topic_partition_list_new(static_cast<int>(highs.value().size())));
  std::set<int32_t> unread;  // partitions not yet read up to their high watermark
  for (const auto& [partition, high] : highs.value()) {
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), partition)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    if (high > 0) unread.insert(partition);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(consumer, assignment.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("assign " + topic + ": " + rd_kafka_err2str(err));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!unread.empty() && std::chrono::steady_clock::now() < deadline) {
    RdKafkaPtr<rd_kafka_message_t> message(rd_kafka_consumer_poll(consumer, 200));
    if (!message) continue;
    const int64_t high = highs.value()[message->partition];
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (message->offset >= high) unread.erase(message->partition);
      continue;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return unavailable("reading " + topic + ": " + rd_kafka_message_errstr(message.get()));
    }
    if (message->offset >= high) continue;  // written after the read began
    if (message->offset + 1 >= high) unread.erase(message->partition);
    each(*message);
  }
  rd_kafka_assign(consumer, nullptr);
  if (!unread.empty()) {
    return unavailable("reading " + topic + " up to its high watermarks took longer than " +
                       std::to_string(timeout_ms) + " ms");
  }
  return Status::ok();
}

Result<std::map<int32_t, int64_t>> committed_offsets(rd_kafka_t* consumer, const std::string& topic,
                                                     const std::map<int32_t, int64_t>& highs,
                                                     int timeout_ms) {
  RdKafkaPtr<rd_kafka_topic_partition_list_t> list(
      rd_kafka_topic_partition_list_new(static_cast<int>(highs.size())));
  for (const auto& [partition, high] : highs) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_committed(consumer, list.get(), timeout_ms);
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("committed offsets on " + topic + ": " + rd_kafka_err2str(err));
  }
  std::map<int32_t, int64_t> offsets;
  for (int i = 0; i < list->cnt; ++i) offsets[list->elems[i].partition] = list->elems[i].offset;
  return offsets;
}

}  // namespace sluice::examples
