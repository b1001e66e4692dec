#include "tests/support/kafka/rdkafka_client.h"

namespace sluice::testing {
namespace {

// The fixtures' own clients must not print "Connect to ... failed" while a broker starts.
void discard_log(const rd_kafka_t*, int, const char*, const char*) {}

}  // namespace

Result<RdKafkaPtr<rd_kafka_t>> new_rdkafka_client(rd_kafka_type_t type,
                                                  const std::string& bootstrap_servers,
                                                  const RdKafkaSettings& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  RdKafkaSettings all = {
      {"bootstrap.servers", bootstrap_servers},
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "500"},
  };
  all.insert(all.end(), settings.begin(), settings.end());
  for (const auto& [name, value] : all) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return internal_error("librdkafka " + name + ": " + err);
    }
  }
  rd_kafka_conf_set_log_cb(conf, discard_log);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new owns conf only when it succeeds
    return internal_error(std::string("rd_kafka_new: ") + err);
  }
  return RdKafkaPtr<rd_kafka_t>(rk);
}

Result<int> partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (handle == nullptr) return internal_error("rd_kafka_topic_new " + topic + " failed");
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, handle, &raw, timeout_ms);
  rd_kafka_topic_destroy(handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("metadata of topic " + topic + ": " + rd_kafka_err2str(err));
  }
  RdKafkaPtr<const rd_kafka_metadata_t> md(raw);
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("topic " + topic + " is not in the metadata");
  }
  return md->topics[0].partition_cnt;
}

}  // namespace sluice::testing
