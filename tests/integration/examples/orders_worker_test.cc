// bin/orders-worker (and orders-api's publisher) against a real rabbitmq-server on loopback.
// One broker serves every section of this process (start-up takes seconds); each section
// uses its own queue.
#include <signal.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <set>
#include <sstream>

#include "tests/support/process/test_process.h"
#include "tests/support/rabbitmq/amqp_test_client.h"
#include "tests/support/rabbitmq/rabbitmq_broker.h"

using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

RabbitBroker& broker() {
  static std::unique_ptr<RabbitBroker> instance;  // stopped at exit, also after failures
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    auto started = RabbitBroker::start();
    if (started) {
      instance = std::move(started).value();
    } else {
      error = started.status().message();
    }
  }
  if (!instance) FAIL("RabbitMQ could not be started: " << error);
  return *instance;
}

std::unique_ptr<AmqpTestClient> amqp() {
  auto client = AmqpTestClient::connect(broker().amqp_port());
  REQUIRE(client.is_ok());
  return std::move(client).value();
}

struct WorkerStats {
  double processed = -1, failed = -1, duplicates = -1, active = -1;
};

WorkerStats stats(int port) {
  auto res = http(port, "GET", "/metrics");
  REQUIRE(res.is_ok());
  REQUIRE(res.value().status == 200);
  const std::string& m = res.value().body;
  return {metric_value(m, "worker_messages_processed_total").value_or(-1),
          metric_value(m, "worker_messages_failed_total").value_or(-1),
          metric_value(m, "worker_duplicates_total").value_or(-1),
          metric_value(m, "worker_active").value_or(-1)};
}

Service start_worker(const TempDir& dir, const std::string& version, const std::string& queue,
                     std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--version",        version,
                                   "--queue",          queue,
                                   "--processed-log",  dir.file(version + ".processed"),
                                   "--activation-log", dir.file("activation.log")};
  args.insert(args.end(), extra.begin(), extra.end());
  auto service = start_service("orders-worker", args, {"AMQP_URL=" + broker().amqp_url()}, dir,
                               "worker-" + version);
  REQUIRE(service.is_ok());
  int port = service.value().port;
  REQUIRE(poll_until(
      [&] {
        auto res = http(port, "GET", "/healthz");
        return res.is_ok() && res.value().status == 200;
      },
      15s));
  return std::move(service).value();
}

void publish_ids(AmqpTestClient& client, const std::string& queue, int first, int count) {
  REQUIRE(client.declare_durable_queue(queue).is_ok());
  for (int i = first; i < first + count; ++i) {
    std::string id = queue + "-" + std::to_string(i);
    REQUIRE(client.publish(queue, "{\"order\":\"" + id + "\"}", id).is_ok());
  }
}

QueueState inspect(AmqpTestClient& client, const std::string& queue) {
  auto state = client.inspect(queue);
  REQUIRE(state.is_ok());
  return state.value();
}

// {"processed":N,"inFlightFinished":M}
std::pair<long, long> parse_deactivate(const std::string& body) {
  auto field = [&](const std::string& name) {
    size_t pos = body.find("\"" + name + "\":");
    REQUIRE(pos != std::string::npos);
    return std::stol(body.substr(pos + name.size() + 3));
  };
  return {field("processed"), field("inFlightFinished")};
}

struct ActivationEvent {
  long long unix_ms;
  std::string version, what;
};

std::vector<ActivationEvent> read_activations(const std::string& path) {
  std::vector<ActivationEvent> events;
  for (const auto& line : read_lines(path)) {
    std::istringstream in(line);
    ActivationEvent e;
    long long pid;
    in >> e.unix_ms >> pid >> e.version >> e.what;
    events.push_back(e);
  }
  return events;
}

}  // namespace

TEST_CASE("orders-worker consumes exactly once and hands over cleanly", "[examples][rabbitmq]") {
  broker();
  TempDir dir;
  auto client = amqp();

  SECTION("starts inactive; activate consumes every message exactly once") {
    const std::string queue = "exactly-once";
    publish_ids(*client, queue, 0, 20);
    Service worker = start_worker(dir, "v1", queue);
    // Connected (healthz 200) but not consuming.
    CHECK(inspect(*client, queue).consumers == 0);
    CHECK(inspect(*client, queue).messages == 20);
    CHECK(stats(worker.port).active == 0);
    CHECK(stats(worker.port).processed == 0);

    auto activated = http(worker.port, "POST", "/admin/activate");
    REQUIRE(activated.is_ok());
    CHECK(activated.value().status == 200);
    REQUIRE(poll_until([&] { return stats(worker.port).processed == 20; }, 10s));
    // Idempotent.
    CHECK(http(worker.port, "POST", "/admin/activate").value().status == 200);
    CHECK(inspect(*client, queue).consumers == 1);
    CHECK(inspect(*client, queue).messages == 0);

    std::vector<std::string> lines = read_lines(dir.file("v1.processed"));
    std::set<std::string> unique(lines.begin(), lines.end());
    CHECK(lines.size() == 20);
    CHECK(unique.size() == 20);
    CHECK(stats(worker.port).duplicates == 0);

    auto deactivated = http(worker.port, "POST", "/admin/deactivate");
    REQUIRE(deactivated.is_ok());
    CHECK(deactivated.value().status == 200);
    CHECK(parse_deactivate(deactivated.value().body).first == 20);
    CHECK(inspect(*client, queue).consumers == 0);
    CHECK(stats(worker.port).active == 0);
    worker.process->signal(SIGTERM);
    CHECK(worker.process->wait_exit(10s) == 0);
  }

  SECTION("deactivate answers after in-flight messages are acked; the next version takes over") {
    const std::string queue = "handover";
    const int total = 60;
    publish_ids(*client, queue, 0, total);
    Service blue = start_worker(dir, "blue", queue, {"--prefetch", "10", "--work-ms", "15"});
    REQUIRE(http(blue.port, "POST", "/admin/activate").value().status == 200);
    REQUIRE(poll_until([&] { return stats(blue.port).processed >= 5; }, 10s));

    auto deactivated = http(blue.port, "POST", "/admin/deactivate");
    REQUIRE(deactivated.is_ok());
    REQUIRE(deactivated.value().status == 200);
    const auto deactivate_result = parse_deactivate(deactivated.value().body);
    const long processed = deactivate_result.first;
    const long in_flight_finished = deactivate_result.second;
    // The prefetch window was full when the cancel went out: those were finished first.
    CHECK(in_flight_finished >= 1);
    CHECK(in_flight_finished <= 10);
    CHECK(processed < total);
    // Nothing is left delivered-but-unacked: every message is processed or ready again.
    QueueState after = inspect(*client, queue);
    CHECK(after.consumers == 0);
    CHECK(static_cast<long>(after.messages) == total - processed);
    CHECK(read_lines(dir.file("blue.processed")).size() == static_cast<size_t>(processed));
    blue.process->signal(SIGTERM);
    REQUIRE(blue.process->wait_exit(10s) == 0);

    Service green = start_worker(dir, "green", queue, {"--start-active"});
    REQUIRE(poll_until([&] { return stats(green.port).processed == total - processed; }, 10s));
    // Exactly once across the handover: no id in both logs, none missing.
    std::vector<std::string> blue_ids = read_lines(dir.file("blue.processed"));
    std::vector<std::string> green_ids = read_lines(dir.file("green.processed"));
    std::set<std::string> all(blue_ids.begin(), blue_ids.end());
    all.insert(green_ids.begin(), green_ids.end());
    CHECK(blue_ids.size() + green_ids.size() == static_cast<size_t>(total));
    CHECK(all.size() == static_cast<size_t>(total));
    CHECK(stats(green.port).duplicates == 0);

    // No overlap: blue's deactivate-end precedes green's activate.
    auto events = read_activations(dir.file("activation.log"));
    long long blue_end = -1, green_start = -1;
    for (const auto& e : events) {
      if (e.version == "blue" && e.what == "deactivate-end") blue_end = e.unix_ms;
      if (e.version == "green" && e.what == "activate") green_start = e.unix_ms;
    }
    REQUIRE(blue_end > 0);
    REQUIRE(green_start > 0);
    CHECK(blue_end <= green_start);
    green.process->signal(SIGTERM);
    CHECK(green.process->wait_exit(10s) == 0);
  }
}

// A separate test case so that ctest, which runs each case in its own process (with its own
// broker), keeps each under ~20 s; run directly, both share one broker.
TEST_CASE("orders-worker duplicates, failures, reconnects and orders-api publishing",
          "[examples][rabbitmq]") {
  broker();
  TempDir dir;
  auto client = amqp();

  SECTION("a redelivered message id is acked and counted as a duplicate") {
    const std::string queue = "duplicates";
    publish_ids(*client, queue, 0, 5);
    publish_ids(*client, queue, 0, 5);  // same ids again
    // Without a message_id the body is the id.
    REQUIRE(client->publish(queue, "body-only").is_ok());
    REQUIRE(client->publish(queue, "body-only").is_ok());
    Service worker = start_worker(dir, "v1", queue, {"--start-active"});
    REQUIRE(poll_until(
        [&] {
          WorkerStats s = stats(worker.port);
          return s.processed + s.duplicates == 12;
        },
        10s));
    WorkerStats s = stats(worker.port);
    CHECK(s.processed == 6);
    CHECK(s.duplicates == 6);
    // Each delivery has its line: 6 ids, then 6 "<id> duplicate" lines for the redeliveries.
    const auto lines = read_lines(dir.file("v1.processed"));
    CHECK(lines.size() == 12);
    CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
            return l.size() > 10 && l.substr(l.size() - 10) == " duplicate";
          }) == 6);
    CHECK(inspect(*client, queue).messages == 0);
  }

  SECTION("fail mode ack drops and counts failures") {
    const std::string queue = "fail-ack";
    publish_ids(*client, queue, 0, 10);
    Service worker = start_worker(dir, "bad", queue,
                                  {"--start-active", "--fail-rate", "1", "--fail-mode", "ack"});
    REQUIRE(poll_until([&] { return stats(worker.port).failed == 10; }, 10s));
    CHECK(stats(worker.port).processed == 0);
    CHECK(inspect(*client, queue).messages == 0);
    CHECK(read_lines(dir.file("bad.processed")).empty());
  }

  SECTION("fail mode requeue nacks; deactivate leaves every message in the queue") {
    const std::string queue = "fail-requeue";
    publish_ids(*client, queue, 0, 10);
    Service worker = start_worker(dir, "bad", queue,
                                  {"--start-active", "--fail-rate", "1", "--fail-mode", "requeue"});
    REQUIRE(poll_until([&] { return stats(worker.port).failed >= 20; }, 10s));
    CHECK(stats(worker.port).processed == 0);
    auto deactivated = http(worker.port, "POST", "/admin/deactivate");
    REQUIRE(deactivated.is_ok());
    CHECK(deactivated.value().status == 200);
    QueueState after = inspect(*client, queue);
    CHECK(after.consumers == 0);
    CHECK(after.messages == 10);
  }

  SECTION("reconnects after the broker goes away and consumes again") {
    const std::string queue = "reconnect";
    publish_ids(*client, queue, 0, 5);
    Service worker = start_worker(dir, "v1", queue, {"--start-active"});
    REQUIRE(poll_until([&] { return stats(worker.port).processed == 5; }, 10s));

    client.reset();  // its connection goes down with the broker
    REQUIRE(broker().stop_app().is_ok());
    REQUIRE(poll_until(
        [&] {
          auto res = http(worker.port, "GET", "/healthz");
          return res.is_ok() && res.value().status == 503;
        },
        10s));
    CHECK(stats(worker.port).active == 0);
    REQUIRE(broker().start_app().is_ok());
    REQUIRE(poll_until(
        [&] {
          auto res = http(worker.port, "GET", "/healthz");
          return res.is_ok() && res.value().status == 200 && stats(worker.port).active == 1;
        },
        20s));
    client = amqp();
    publish_ids(*client, queue, 5, 5);
    REQUIRE(poll_until([&] { return stats(worker.port).processed == 10; }, 10s));
    CHECK(read_lines(dir.file("v1.processed")).size() == 10);
    worker.process->signal(SIGTERM);
    CHECK(worker.process->wait_exit(10s) == 0);
  }

  SECTION("orders-api publishes one persistent event per successful request") {
    const std::string queue = "api-events";
    auto api = start_service("orders-api", {"--publish-queue", queue, "--version", "3.0.0"},
                             {"AMQP_URL=" + broker().amqp_url()}, dir, "orders-api");
    REQUIRE(api.is_ok());
    int port = api.value().port;
    for (int i = 0; i < 5; ++i) REQUIRE(http(port, "POST", "/orders").value().status == 200);
    REQUIRE(poll_until(
        [&] {
          auto res = http(port, "GET", "/metrics");
          return res.is_ok() && metric_value(res.value().body, "orders_published_total") == 5;
        },
        10s));
    REQUIRE(poll_until(
        [&] {
          auto state = client->inspect(queue);
          return state.is_ok() && state.value().messages == 5;
        },
        10s));
    api.value().process->signal(SIGTERM);
    CHECK(api.value().process->wait_exit(10s) == 0);
  }
}
