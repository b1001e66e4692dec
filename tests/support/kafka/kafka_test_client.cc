#include "tests/support/kafka/kafka_test_client.h"

#include <chrono>
#include <utility>
#include <vector>

#include "healthcheck/analysis/rdkafka_ptr.h"

namespace sluice::testing {

namespace {

using analysis::RdKafkaPtr;

constexpr int kTimeoutMs = 30'000;

void count_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* d = static_cast<Deliveries*>(opaque);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++d->delivered;
    return;
  }
  ++d->failed;
  if (d->first_error.empty()) d->first_error = rd_kafka_err2str(message->err);
}

void quiet(const rd_kafka_t*, int, const char*, const char*) {}

}  // namespace

Result<RdKafkaPtr<rd_kafka_t>> make_client(
    rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& settings,
    Deliveries* deliveries) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return invalid_argument(name + ": " + err);
    }
  }
  rd_kafka_conf_set_log_cb(conf, quiet);
  if (deliveries) {
    rd_kafka_conf_set_opaque(conf, deliveries);
    rd_kafka_conf_set_dr_msg_cb(conf, count_delivery);
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return internal_error(std::string("rd_kafka_new: ") + err);
  }
  return RdKafkaPtr<rd_kafka_t>(rk);
}

Status produce_to_partitions(const std::string& bootstrap_servers, const std::string& topic,
                             const std::map<int32_t, int>& counts) {
  Deliveries deliveries;
  auto producer =
      make_client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap_servers}, {"linger.ms", "5"}},
                  &deliveries);
  if (!producer) return producer.status();
  rd_kafka_t* rk = producer->get();
  int wanted = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  for (const auto& [partition, count] : counts) {
    for (int i = 0; i < count; ++i) {
      std::string key = "k" + std::to_string(i);
      std::string value = "v" + std::to_string(i);
      rd_kafka_vu_t vus[5];
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = topic.c_str();
      vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
      vus[1].u.i32 = partition;
      vus[2].vtype = RD_KAFKA_VTYPE_KEY;
      vus[2].u.mem.ptr = key.data();
      vus[2].u.mem.size = key.size();
      vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[3].u.mem.ptr = value.data();
      vus[3].u.mem.size = value.size();
      vus[4].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[4].u.i = RD_KAFKA_MSG_F_COPY;
      while (true) {
        RdKafkaPtr<rd_kafka_error_t> error(rd_kafka_produceva(rk, vus, 5));
        if (!error) break;
        if (rd_kafka_error_code(error.get()) != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
            std::chrono::steady_clock::now() > deadline) {
          return unavailable("produce to " + topic + "/" + std::to_string(partition) + ": " +
                             rd_kafka_error_string(error.get()));
        }
        rd_kafka_poll(rk, 50);  // delivery reports make room
      }
      ++wanted;
    }
    rd_kafka_poll(rk, 0);
  }
  if (const auto err = rd_kafka_flush(rk, kTimeoutMs); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable(std::string("flush: ") + rd_kafka_err2str(err));
  }
  if (deliveries.failed > 0 || deliveries.delivered != wanted) {
    return unavailable(std::to_string(deliveries.failed) + " of " + std::to_string(wanted) +
                       " records not delivered: " + deliveries.first_error);
  }
  return Status::ok();
}

Status commit_offsets(const std::string& bootstrap_servers, const std::string& group,
                      const std::string& topic, const std::map<int32_t, int64_t>& offsets) {
  auto consumer = make_client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap_servers},
                                                  {"group.id", group},
                                                  {"enable.auto.commit", "false"}});
  if (!consumer) return consumer.status();
  RdKafkaPtr<rd_kafka_topic_partition_list_t> list(
      rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [partition, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = offset;
  }
  // Synchronous; librdkafka bounds it by the coordinator lookup and socket timeouts.
  const rd_kafka_resp_err_t err = rd_kafka_commit(consumer->get(), list.get(), 0);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("commit as " + group + ": " + rd_kafka_err2str(err));
  }
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return unavailable("commit partition " + std::to_string(list->elems[i].partition) + ": " +
                         rd_kafka_err2str(list->elems[i].err));
    }
  }
  rd_kafka_consumer_close(consumer->get());
  return Status::ok();
}

}  // namespace sluice::testing
