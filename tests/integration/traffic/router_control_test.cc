// The built-in router as its own process (traffic/router_control.h): the control protocol with
// its errors, the tables it keeps across its own restart, one router per dir, and RemoteRouter
// starting a real `sluice router` process - again after that process is SIGKILLed.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "base/filesystem.h"
#include "tests/integration/traffic/http_test_client.h"
#include "tests/support/echo_backend/echo_backend.h"
#include "tests/support/paths/paths.h"
#include "traffic/builtin_router.h"
#include "traffic/route_codec.h"
#include "traffic/router_control.h"

namespace sluice::traffic {
namespace {

using sluice::testing::EchoBackend;
using sluice::testing::HttpTestClient;
using namespace std::chrono_literals;
using nlohmann::json;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sluice-router-control-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

RouteTable table_for(const EchoBackend& backend, int port = 0) {
  RouteTable t;
  t.rollout = "orders";
  t.listen = "127.0.0.1:" + std::to_string(port);
  RevisionRoute r;
  r.revision = 1;
  r.version = backend.version();
  r.role = "stable";
  r.weight_percent = 100;
  r.ready_endpoints = {Endpoint{"s-0", "127.0.0.1", backend.port()}};
  t.revisions.push_back(r);
  return t;
}

json request(const std::string& op, json extra = json::object()) {
  extra["op"] = op;
  extra["protocol"] = kRouterProtocol;
  return extra;
}

std::string get_version(uint16_t port) {
  HttpTestClient client(port);
  auto r = client.get("/");
  return r.ec ? "error: " + r.ec.message() : std::to_string(r.status) + " " + r.sluice_version;
}

bool pid_alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

}  // namespace

TEST_CASE("router control: bad requests get errors naming the field, and nothing changes",
          "[router][bad-input]") {
  TempDir dir;
  EchoBackend backend("v1");
  BuiltinRouter router(SystemClock::instance());
  PosixFilesystem fs;
  RouterControlServer server(router, fs, dir.path + "/router");
  REQUIRE(server.start().is_ok());

  json good = request("apply", {{"table", to_json(table_for(backend))}});
  REQUIRE(server.handle(good.dump())["ok"] == true);
  const auto port = router.listen_port("orders");
  REQUIRE(port);

  struct Case {
    std::string line;
    std::string error;
  };
  json missing_weight = to_json(table_for(backend));
  missing_weight["revisions"][0].erase("weightPercent");
  json wrong_port = to_json(table_for(backend));
  wrong_port["revisions"][0]["readyEndpoints"][0]["port"] = "eighty";
  const std::vector<Case> cases = {
      {"not json", "not a JSON object"},
      {R"({"op":"ping"})", "protocol must be 1"},
      {R"({"op":"ping","protocol":2})", "protocol must be 1"},
      {request("fly").dump(), "op: unknown \"fly\""},
      {request("apply").dump(), "table: missing"},
      {request("apply", {{"table", missing_weight}}).dump(), "revisions[0].weightPercent: missing"},
      {request("apply", {{"table", wrong_port}}).dump(),
       "revisions[0].readyEndpoints[0].port: must be an integer"},
      {request("stats", {{"rollout", "orders"}, {"windowMs", 1000}}).dump(),
       "revision: must be an integer"},
      {request("samples", {{"rollout", "orders"}, {"revision", 1}, {"kind", "x"}, {"windowMs", 1}})
           .dump(),
       "kind: unknown sample kind"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    const json answer = server.handle(c.line);
    CHECK(answer["ok"] == false);
    CHECK_THAT(answer.value("error", ""), Catch::Contains(c.error));
  }
  // The table applied before the bad requests still serves.
  CHECK(get_version(*port) == "200 v1");
}

TEST_CASE("router control: tables survive the router's own restart, one router per dir",
          "[router]") {
  TempDir dir;
  const std::string rdir = dir.path + "/router";
  EchoBackend backend("v1");
  PosixFilesystem fs;
  uint16_t port = 0;
  {
    BuiltinRouter router(SystemClock::instance());
    RouterControlServer server(router, fs, rdir);
    REQUIRE(server.start().is_ok());
    REQUIRE(server.handle(request("apply", {{"table", to_json(table_for(backend))}}).dump())["ok"] ==
            true);
    port = *router.listen_port("orders");
    // A second router on the same dir is refused, naming the first one's pid.
    BuiltinRouter other(SystemClock::instance());
    RouterControlServer second(other, fs, rdir);
    auto refused = second.start();
    REQUIRE_FALSE(refused.is_ok());
    CHECK_THAT(refused.status().message(), Catch::Contains("another router runs"));
    CHECK_THAT(refused.status().message(), Catch::Contains(std::to_string(::getpid())));
  }
  // A new router on the dir applies what it kept: the door is back on a fresh port.
  {
    BuiltinRouter router(SystemClock::instance());
    RouterControlServer server(router, fs, rdir);
    auto started = server.start();
    REQUIRE(started.is_ok());
    CHECK(started->empty());
    auto reopened = router.listen_port("orders");
    REQUIRE(reopened);
    CHECK(get_version(*reopened) == "200 v1");
    const json tables = server.handle(request("tables").dump());
    REQUIRE(tables["tables"].size() == 1);
    CHECK(tables["tables"][0]["rollout"] == "orders");
    // remove forgets it for the next start too.
    CHECK(server.handle(request("remove", {{"rollout", "orders"}}).dump())["ok"] == true);
  }
  {
    BuiltinRouter router(SystemClock::instance());
    RouterControlServer server(router, fs, rdir);
    REQUIRE(server.start().is_ok());
    CHECK_FALSE(router.listen_port("orders"));
  }
  // A kept file that is not a list of tables is reported, and the router starts without it.
  std::ofstream(rdir + "/tables.json", std::ios::trunc) << "{\"oops\":";
  {
    BuiltinRouter router(SystemClock::instance());
    RouterControlServer server(router, fs, rdir);
    auto started = server.start();
    REQUIRE(started.is_ok());
    REQUIRE(started->size() == 1);
    CHECK_THAT((*started)[0], Catch::Contains("tables.json is not a list"));
  }
  (void)port;
}

TEST_CASE("RemoteRouter starts a real router process, and a new one after a SIGKILL",
          "[router][process]") {
  TempDir dir;
  EchoBackend backend("v1");
  RemoteRouterOptions options;
  options.dir = dir.path + "/router";
  options.start_argv = {sluice::test::bin_dir() + "/sluice", "router", "--state-dir", options.dir};
  pid_t first = 0;
  {
    RemoteRouter remote(options);
    REQUIRE(remote.start().is_ok());
    first = remote.router_pid();
    REQUIRE(pid_alive(first));
    REQUIRE(remote.apply(table_for(backend)).is_ok());
    auto port = remote.listen_port("orders");
    REQUIRE(port);
    CHECK(get_version(*port) == "200 v1");
    auto stats = remote.stats("orders", 1, Duration(60'000));
    REQUIRE(stats);
    CHECK(stats->requests == 1);
    CHECK(remote.metrics_text().find("sluice_router_requests_total") != std::string::npos);
  }
  // The RemoteRouter is gone; the router process is not (it belongs to no one's lifetime).
  REQUIRE(pid_alive(first));
  {
    RemoteRouter adopted(options);
    REQUIRE(adopted.start().is_ok());
    CHECK(adopted.router_pid() == first);

    // The router dies. The next call starts another, which reloads its kept tables.
    ::kill(first, SIGKILL);
    for (int i = 0; i < 100 && pid_alive(first); ++i) {
      (void)::waitpid(first, nullptr, WNOHANG);
      std::this_thread::sleep_for(20ms);
    }
    REQUIRE(adopted.apply(table_for(backend)).is_ok());
    const pid_t second = adopted.router_pid();
    CHECK(second != first);
    CHECK(pid_alive(second));
    auto port = adopted.listen_port("orders");
    REQUIRE(port);
    CHECK(get_version(*port) == "200 v1");
  }
  // Removing its state dir stops it (nobody could reach it any more), within a few seconds.
  pid_t last = 0;
  {
    RemoteRouter again(options);
    REQUIRE(again.start().is_ok());
    last = again.router_pid();
  }
  std::filesystem::remove_all(options.dir);
  for (int i = 0; i < 250 && pid_alive(last); ++i) {
    (void)::waitpid(last, nullptr, WNOHANG);  // it is this process's child: reap it
    std::this_thread::sleep_for(20ms);
  }
  CHECK_FALSE(pid_alive(last));
}

}  // namespace sluice::traffic
