#include "tests/support/kafka/kafka_broker.h"

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/support/peers/peers.h"
#include "tests/support/process/test_process.h"

namespace sluice::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kJava = "/usr/bin/java";
constexpr auto kStopGrace = 15s;
constexpr auto kAdminTimeout = 30s;

Status write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  return out ? Status::ok() : unavailable("cannot write " + path);
}

std::string file_tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

// A Kafka cluster id: 16 random bytes in unpadded URL-safe base64 (what Uuid.fromString reads).
std::string random_cluster_id() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device device;
  unsigned char bytes[16];
  for (auto& b : bytes) b = static_cast<unsigned char>(device() & 0xff);
  // An id that starts with '-' reads as an option to kafka-storage's argument parser ("argument
  // --cluster-id/-t: expected one argument"), one run in 64. Kafka's Uuid.randomUuid() avoids it
  // too; here the top bit of the first byte is cleared, so the first character is A-Z or a-f.
  bytes[0] &= 0x7f;
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (6 - bits)) & 0x3f];
  return out;  // 22 characters
}

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
  void operator()(rd_kafka_AdminOptions_t* p) const { rd_kafka_AdminOptions_destroy(p); }
  void operator()(rd_kafka_NewTopic_t* p) const { rd_kafka_NewTopic_destroy(p); }
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
};
template <typename T>
using RdKafkaPtr = std::unique_ptr<T, RdKafkaDeleter>;

// The fixture's own client must not print "Connect to ... failed" while the broker starts.
void discard_log(const rd_kafka_t*, int, const char*, const char*) {}

// A producer handle used only for metadata and admin requests.
Result<RdKafkaPtr<rd_kafka_t>> admin_client(const std::string& bootstrap_servers) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  // Short reconnect backoff: the default grows to 10 s, which would hide a broker that has
  // just come up.
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", bootstrap_servers},
      {"reconnect.backoff.ms", "100"},
      {"reconnect.backoff.max.ms", "500"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return internal_error(std::string("librdkafka ") + name + ": " + err);
    }
  }
  rd_kafka_conf_set_log_cb(conf, discard_log);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new owns conf only when it succeeds
    return internal_error(std::string("rd_kafka_new: ") + err);
  }
  return RdKafkaPtr<rd_kafka_t>(rk);
}

// OK when the topic is in the broker's metadata with `partitions` partitions, each with a leader.
Status topic_ready(rd_kafka_t* rk, const std::string& name, int partitions) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &raw, 2000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return unavailable(rd_kafka_err2str(err));
  RdKafkaPtr<const rd_kafka_metadata_t> md(raw);
  for (int t = 0; t < md->topic_cnt; ++t) {
    const rd_kafka_metadata_topic_t& topic = md->topics[t];
    if (name != topic.topic) continue;
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR) return unavailable(rd_kafka_err2str(topic.err));
    if (topic.partition_cnt != partitions) {
      return unavailable(std::to_string(topic.partition_cnt) + " of " +
                         std::to_string(partitions) + " partitions in the metadata");
    }
    for (int p = 0; p < topic.partition_cnt; ++p) {
      if (topic.partitions[p].leader < 0 || topic.partitions[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return unavailable("partition " + std::to_string(p) + " has no leader yet");
      }
    }
    return Status::ok();
  }
  return unavailable("not in the metadata yet");
}

}  // namespace

KafkaBroker::KafkaBroker() = default;

KafkaBroker::~KafkaBroker() { (void)stop(); }

Result<std::unique_ptr<KafkaBroker>> KafkaBroker::start(const KafkaBrokerOptions& options) {
  if (options.num_partitions < 1) return invalid_argument("num_partitions must be at least 1");
  if (options.heap.empty()) return invalid_argument("heap must be set (e.g. \"512m\")");
  auto libs = peer_path("kafka/libs");
  if (!libs) return libs.status();
  if (::access(kJava, X_OK) != 0) {
    return failed_precondition(std::string(kJava) +
                               " is missing: the Kafka peer needs a Java 17 runtime "
                               "(apt-get install openjdk-17-jre-headless)");
  }

  const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  std::unique_ptr<KafkaBroker> broker(new KafkaBroker());
  broker->options_ = options;
  broker->libs_ = libs.value();
  char tmpl[] = "/tmp/sluice-kafka-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return unavailable("mkdtemp /tmp/sluice-kafka-XXXXXX failed");
  broker->dir_ = tmpl;
  const std::string& dir = broker->dir_;

  broker->port_ = free_loopback_port();
  do {
    broker->controller_port_ = free_loopback_port();
  } while (broker->controller_port_ == broker->port_ && broker->port_ != 0);
  if (broker->port_ == 0 || broker->controller_port_ == 0) {
    return unavailable("no free loopback port for the Kafka broker");
  }
  const std::string port = std::to_string(broker->port_);
  const std::string controller_port = std::to_string(broker->controller_port_);
  broker->bootstrap_servers_ = "127.0.0.1:" + port;

  // Internal topics get one partition: the first consumer group then waits for one
  // __consumer_offsets partition instead of 50. Fewer threads than the defaults: this is a
  // test peer on a small machine. A shorter broker session: after kill(), the restarted
  // broker cannot register (DUPLICATE_BROKER_REGISTRATION) until the dead one's session has
  // expired, which is 9 s by default.
  const std::string server_properties =
      "process.roles=broker,controller\n"
      "node.id=1\n"
      "controller.quorum.voters=1@127.0.0.1:" + controller_port + "\n"
      "listeners=PLAINTEXT://127.0.0.1:" + port +
      ",CONTROLLER://127.0.0.1:" + controller_port + "\n"
      "advertised.listeners=PLAINTEXT://127.0.0.1:" + port + "\n"
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
      "controller.listener.names=CONTROLLER\n"
      "inter.broker.listener.name=PLAINTEXT\n"
      "log.dirs=" + broker->data_dir() + "\n"
      "num.partitions=" + std::to_string(options.num_partitions) + "\n"
      "auto.create.topics.enable=true\n"
      "offsets.topic.replication.factor=1\n"
      "offsets.topic.num.partitions=1\n"
      "transaction.state.log.replication.factor=1\n"
      "transaction.state.log.min.isr=1\n"
      "transaction.state.log.num.partitions=1\n"
      "share.coordinator.state.topic.replication.factor=1\n"
      "share.coordinator.state.topic.min.isr=1\n"
      "share.coordinator.state.topic.num.partitions=1\n"
      "group.initial.rebalance.delay.ms=0\n"
      "num.network.threads=2\n"
      "num.io.threads=2\n"
      "num.recovery.threads.per.data.dir=1\n"
      "background.threads=2\n"
      "broker.session.timeout.ms=4000\n"
      "broker.heartbeat.interval.ms=500\n";
  if (Status s = write_file(dir + "/server.properties", server_properties); !s) return s;
  const std::string log4j2_properties =
      "status = warn\n"
      "appender.file.type = File\n"
      "appender.file.name = FILE\n"
      "appender.file.fileName = " + dir + "/broker.log\n"
      "appender.file.layout.type = PatternLayout\n"
      "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
      "rootLogger.level = INFO\n"
      "rootLogger.appenderRef.file.ref = FILE\n";
  if (Status s = write_file(dir + "/log4j2.properties", log4j2_properties); !s) return s;
  // `format` logs warnings to its output (format.log), so broker.log holds only the broker's.
  const std::string format_log4j2_properties =
      "status = warn\n"
      "appender.out.type = Console\n"
      "appender.out.name = OUT\n"
      "appender.out.layout.type = PatternLayout\n"
      "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
      "rootLogger.level = WARN\n"
      "rootLogger.appenderRef.out.ref = OUT\n";
  if (Status s = write_file(dir + "/log4j2-format.properties", format_log4j2_properties); !s) {
    return s;
  }

  // Static voter set (controller.quorum.voters), so `format` takes no --standalone and a
  // restart on the same ports finds the same quorum.
  auto format = ChildProcess::spawn(
      {kJava, "-XX:+UseSerialGC", "-XX:-UsePerfData", "-XX:TieredStopAtLevel=1",
       "-Dlog4j2.configurationFile=" + dir + "/log4j2-format.properties", "-cp",
       broker->libs_ + "/*", "kafka.tools.StorageTool", "format", "-t", random_cluster_id(), "-c",
       dir + "/server.properties"},
      {}, dir + "/format.log");
  if (!format) return format.status();
  std::optional<int> format_exit = format.value()->wait_exit(
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                            std::chrono::steady_clock::now()));
  if (!format_exit) {
    return Status(StatusCode::kDeadlineExceeded,
                  "kafka-storage format did not finish within " +
                      std::to_string(options.start_timeout.count()) + " s:\n" +
                      file_tail(dir + "/format.log", 2000));
  }
  if (*format_exit != 0) {
    return unavailable("kafka-storage format exited with " + std::to_string(*format_exit) +
                       ":\n" + file_tail(dir + "/format.log", 2000));
  }

  if (Status s = broker->launch(deadline); !s) return s;
  return broker;
}

std::string KafkaBroker::data_dir() const { return dir_ + "/data"; }

pid_t KafkaBroker::pid() const { return process_ ? process_->pid() : -1; }

Status KafkaBroker::launch(std::chrono::steady_clock::time_point deadline) {
  // SerialGC and no perf-data file: the smallest footprint; a test broker needs no pause goals.
  // C1 only (TieredStopAtLevel=1): start-up takes about half as long on 2 busy cores, and a
  // test's few thousand messages do not need C2's code.
  auto child = ChildProcess::spawn(
      {kJava, "-Xms" + options_.heap, "-Xmx" + options_.heap, "-XX:+UseSerialGC",
       "-XX:-UsePerfData", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
       "-Dlog4j2.configurationFile=" + dir_ + "/log4j2.properties", "-cp", libs_ + "/*",
       "kafka.Kafka", dir_ + "/server.properties"},
      {}, dir_ + "/broker.out");
  if (!child) return child.status();
  process_ = std::move(child).value();
  return wait_ready(deadline);
}

Status KafkaBroker::wait_ready(std::chrono::steady_clock::time_point deadline) {
  auto client = admin_client(bootstrap_servers_);
  if (!client) return client.status();
  std::string last_error = "no answer yet";
  for (;;) {
    if (std::optional<int> code = process_->wait_exit(0ms)) {
      process_.reset();
      return unavailable("the Kafka broker (java kafka.Kafka) exited with " +
                         std::to_string(*code) + " during start-up:\n" + log_tail());
    }
    const rd_kafka_metadata_t* raw = nullptr;
    // all_topics=0 and no topic: only the broker list, which is all "ready" needs.
    rd_kafka_resp_err_t err = rd_kafka_metadata(client.value().get(), 0, nullptr, &raw, 1000);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      RdKafkaPtr<const rd_kafka_metadata_t> md(raw);
      if (md->broker_cnt > 0) return Status::ok();
      last_error = "metadata lists no broker";
    } else {
      last_error = rd_kafka_err2str(err);
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(100ms);
  }
  std::string message = "the Kafka broker did not answer a metadata request on " +
                         bootstrap_servers_ + " within " +
                         std::to_string(options_.start_timeout.count()) +
                         " s (last error: " + last_error + "):\n" + log_tail();
  (void)terminate(false);
  return Status(StatusCode::kDeadlineExceeded, message);
}

Status KafkaBroker::create_topic(const std::string& name, int partitions) {
  if (!process_) return failed_precondition("the Kafka broker is not running");
  auto client = admin_client(bootstrap_servers_);
  if (!client) return client.status();
  rd_kafka_t* rk = client.value().get();

  char err[512];
  RdKafkaPtr<rd_kafka_NewTopic_t> topic(
      rd_kafka_NewTopic_new(name.c_str(), partitions, 1, err, sizeof(err)));
  if (!topic) return invalid_argument("topic " + name + ": " + err);
  RdKafkaPtr<rd_kafka_AdminOptions_t> admin_options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  const int timeout_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(kAdminTimeout).count());
  if (rd_kafka_AdminOptions_set_request_timeout(admin_options.get(), timeout_ms, err,
                                                sizeof(err)) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_AdminOptions_set_operation_timeout(admin_options.get(), timeout_ms, err,
                                                  sizeof(err)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return internal_error(std::string("librdkafka admin options: ") + err);
  }
  RdKafkaPtr<rd_kafka_queue_t> queue(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(rk, topics, 1, admin_options.get(), queue.get());

  // The request and operation timeouts above bound this; the extra seconds are slack.
  RdKafkaPtr<rd_kafka_event_t> event(rd_kafka_queue_poll(queue.get(), timeout_ms + 5000));
  if (!event) return Status(StatusCode::kDeadlineExceeded, "CreateTopics " + name + " timed out");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return unavailable("CreateTopics " + name + ": " + rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  if (result == nullptr) return internal_error("CreateTopics " + name + ": unexpected event");
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  if (count != 1) return internal_error("CreateTopics " + name + ": no topic result");
  if (rd_kafka_topic_result_error(results[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* why = rd_kafka_topic_result_error_string(results[0]);
    return unavailable("CreateTopics " + name + ": " +
                       (why != nullptr ? why : rd_kafka_err2str(rd_kafka_topic_result_error(
                                                   results[0]))));
  }

  // The controller has committed the topic; the broker learns the leaders a moment later.
  const auto deadline = std::chrono::steady_clock::now() + kAdminTimeout;
  Status ready = topic_ready(rk, name, partitions);
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    ready = topic_ready(rk, name, partitions);
  }
  if (!ready) return unavailable("topic " + name + " created but not ready: " + ready.message());
  return Status::ok();
}

Status KafkaBroker::terminate(bool graceful) {
  if (!process_) return Status::ok();
  Status result = Status::ok();
  if (graceful) {
    process_->signal(SIGTERM);
    if (!process_->wait_exit(kStopGrace)) {
      result = unavailable("the Kafka broker did not stop within " +
                           std::to_string(kStopGrace.count()) + " s of SIGTERM; killed");
    }
  }
  process_.reset();  // SIGKILLs the process group and reaps it unless it has exited
  return result;
}

Status KafkaBroker::kill() {
  if (stopped_) return failed_precondition("the Kafka broker was stopped");
  return terminate(false);
}

Status KafkaBroker::restart() {
  if (stopped_) return failed_precondition("the Kafka broker was stopped; it cannot restart");
  if (Status s = terminate(true); !s) return s;
  return launch(std::chrono::steady_clock::now() + options_.start_timeout);
}

Status KafkaBroker::stop() {
  if (stopped_) return Status::ok();
  stopped_ = true;
  Status result = terminate(true);
  if (!dir_.empty() && std::getenv("SLUICE_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  return result;
}

std::string KafkaBroker::log_tail() const {
  // The JVM's own output (bad flags, a missing class) and log4j's broker.log (the broker's
  // reasons).
  std::string out = file_tail(dir_ + "/broker.out", 1500);
  std::string log = file_tail(dir_ + "/broker.log", 3000);
  std::string tail;
  // File names only: stop() removes the dir, and with it these files.
  if (!out.empty()) tail += "--- broker.out (tail) ---\n" + out;
  if (!log.empty()) tail += "--- broker.log (tail) ---\n" + log;
  if (tail.empty()) tail = "(the broker wrote no output)";
  return tail;
}

}  // namespace sluice::testing
