// RestClient against a real TLS server on loopback (tls_test_server.h): certificate and host
// name verification, client certificates, tokens and their rotation, Status answers, timeouts,
// body limits, concurrent calls, and watch streams (chunked lines, stop, idle timeout, 410).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "kube/rest_client.h"
#include "tls_test_server.h"

using namespace std::chrono_literals;
using sluice::Duration;
using sluice::Status;
using sluice::StatusCode;
using sluice::kube::ClusterConfig;
using sluice::kube::PatchType;
using sluice::kube::RestClient;
using sluice::kube::RestClientOptions;
using sluice::kube::testing::chunk;
using sluice::kube::testing::hold;
using sluice::kube::testing::respond;
using sluice::kube::testing::SeenRequest;
using sluice::kube::testing::test_pki;
using sluice::kube::testing::TlsStream;
using sluice::kube::testing::TlsTestServer;
using sluice::kube::testing::write_raw;
using json = nlohmann::json;

namespace {

using SteadyClock = std::chrono::steady_clock;

ClusterConfig config_for(const TlsTestServer& server) {
  ClusterConfig c;
  c.server = server.url();
  c.ca_pem = test_pki().ca_pem;
  c.token = "t0ken";
  c.source = "test";
  c.namespace_ = "default";
  return c;
}

std::unique_ptr<RestClient> make_client(const ClusterConfig& config,
                                        RestClientOptions options = {}) {
  auto client = RestClient::create(config, std::move(options));
  REQUIRE(client.is_ok());
  return std::move(client).value();
}

// Echoes what it saw as JSON.
void echo(const SeenRequest& seen, TlsStream& stream) {
  respond(stream, 200,
          json{{"kind", "Echo"}, {"method", seen.method}, {"target", seen.target}}.dump());
}

const char* const kWatchHeader =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string event(const std::string& type, const std::string& name) {
  return json{{"type", type}, {"object", {{"kind", "Pod"}, {"metadata", {{"name", name}}}}}}
             .dump() +
         "\n";
}

long elapsed_ms(SteadyClock::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count());
}

// A port that was free a moment ago and has nobody listening.
unsigned short closed_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace

TEST_CASE("requests verify the server against the CA and send the token", "[rest_client]") {
  TlsTestServer server([](const SeenRequest& seen, TlsStream& stream) {
    if (seen.method == "GET") {
      respond(stream, 200, R"({"kind":"PodList","items":[]})");
    } else {
      echo(seen, stream);
    }
  });
  ClusterConfig config = config_for(server);
  config.server += "/prefix/";
  auto client = make_client(config);

  auto list = client->get("/api/v1/namespaces/shop/pods?limit=500");
  REQUIRE(list.is_ok());
  CHECK(list->status == 200);
  CHECK(list->ok());
  CHECK(list->json["kind"] == "PodList");

  REQUIRE(client->post("/api/v1/namespaces/shop/pods", json{{"kind", "Pod"}}).is_ok());
  REQUIRE(client->put("/api/v1/namespaces/shop/pods/a", json{{"kind", "Pod"}}).is_ok());
  REQUIRE(client->patch("/api/v1/namespaces/shop/pods/a", R"({"metadata":{}})",
                        PatchType::kStrategicMerge)
              .is_ok());
  auto deleted = client->del("/api/v1/namespaces/shop/pods/a");
  REQUIRE(deleted.is_ok());
  CHECK(deleted->json["method"] == "DELETE");

  const auto seen = server.seen();
  REQUIRE(seen.size() == 5);
  CHECK(seen[0].target == "/prefix/api/v1/namespaces/shop/pods?limit=500");
  CHECK(seen[0].authorization == "Bearer t0ken");
  CHECK(seen[0].user_agent == "sluice");
  CHECK(seen[0].host == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(seen[0].sni.empty());  // no SNI for an IP address
  CHECK(seen[0].client_cn.empty());
  CHECK(seen[1].method == "POST");
  CHECK(seen[1].content_type == "application/json");
  CHECK(json::parse(seen[1].body) == json{{"kind", "Pod"}});
  CHECK(seen[2].method == "PUT");
  CHECK(seen[3].method == "PATCH");
  CHECK(seen[3].content_type == "application/strategic-merge-patch+json");
  CHECK(seen[3].body == R"({"metadata":{}})");
  CHECK(seen[4].method == "DELETE");
  CHECK(seen[4].body.empty());
}

TEST_CASE("a server certificate from another CA is refused with a clear error", "[rest_client]") {
  TlsTestServer server(echo);
  ClusterConfig config = config_for(server);
  config.ca_pem = test_pki().other_ca_pem;
  auto client = make_client(config);
  auto answer = client->get("/version");
  REQUIRE_FALSE(answer.is_ok());
  CHECK(answer.status().code() == StatusCode::kUnavailable);
  const std::string& message = answer.status().message();
  CHECK(message.rfind("TLS handshake with " + server.url() + ": certificate verify failed (", 0) ==
        0);
  CHECK(message.find("unable to get local issuer certificate") != std::string::npos);
  CHECK(message.find("t0ken") == std::string::npos);
  CHECK(server.seen().empty());
}

TEST_CASE("the certificate must name the host or tls-server-name", "[rest_client]") {
  TlsTestServer server(echo);
  ClusterConfig config = config_for(server);
  SECTION("a name the certificate does not carry") {
    config.tls_server_name = "other.example";
    auto answer = make_client(config)->get("/version");
    REQUIRE_FALSE(answer.is_ok());
    CHECK(answer.status().message() ==
          "TLS handshake with " + server.url() +
              ": certificate verify failed (hostname mismatch: the server certificate does not "
              "name other.example)");
  }
  SECTION("a DNS name it carries, sent as SNI") {
    config.tls_server_name = "localhost";
    auto answer = make_client(config)->get("/version");
    REQUIRE(answer.is_ok());
    REQUIRE(server.seen().size() == 1);
    CHECK(server.seen()[0].sni == "localhost");
  }
}

TEST_CASE("a closed port is a connect error", "[rest_client]") {
  const unsigned short port = closed_port();
  ClusterConfig config;
  config.server = "https://127.0.0.1:" + std::to_string(port);
  config.ca_pem = test_pki().ca_pem;
  auto answer = make_client(config)->get("/version");
  REQUIRE_FALSE(answer.is_ok());
  CHECK(answer.status().code() == StatusCode::kUnavailable);
  CHECK(answer.status().message() ==
        "connect to https://127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST_CASE("a 401 Status answer is a Response with the apiserver message", "[rest_client]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
    respond(stream, 401,
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"Unauthorized","reason":"Unauthorized","code":401})");
  });
  auto answer = make_client(config_for(server))->get("/api/v1/pods");
  REQUIRE(answer.is_ok());
  CHECK(answer->status == 401);
  CHECK_FALSE(answer->ok());
  CHECK(answer->error_message() == "HTTP 401 Unauthorized: Unauthorized");
  CHECK(answer->to_status().code() == StatusCode::kUnauthenticated);
}

TEST_CASE("a client certificate authenticates instead of the token", "[rest_client]") {
  TlsTestServer server(echo, test_pki().ca_pem);
  ClusterConfig config = config_for(server);
  SECTION("with the certificate") {
    config.client_cert_pem = test_pki().client_cert_pem;
    config.client_key_pem = test_pki().client_key_pem;
    auto answer = make_client(config)->get("/api");
    REQUIRE(answer.is_ok());
    CHECK(answer->status == 200);
    REQUIRE(server.seen().size() == 1);
    CHECK(server.seen()[0].client_cn == "sluice-test-client");
    CHECK(server.seen()[0].authorization.empty());
  }
  SECTION("without it the server refuses the handshake") {
    auto answer = make_client(config)->get("/api");
    REQUIRE_FALSE(answer.is_ok());
    CHECK(server.seen().empty());
  }
}

TEST_CASE("a rotated token file is picked up on the next request", "[rest_client]") {
  TlsTestServer server(echo);
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("sluice-kube-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string token_path = dir + "/token";
  const auto write_token = [&](const std::string& token, time_t mtime) {
    std::ofstream(token_path, std::ios::trunc) << token << "\n";
    timespec times[2] = {{mtime, 0}, {mtime, 0}};
    REQUIRE(::utimensat(AT_FDCWD, token_path.c_str(), times, 0) == 0);
  };
  write_token("first", 1'000'000);
  ClusterConfig config = config_for(server);
  config.token = "";
  config.token_file = token_path;
  auto client = make_client(config);
  REQUIRE(client->get("/a").is_ok());
  write_token("secnd", 1'000'100);
  REQUIRE(client->get("/b").is_ok());
  std::filesystem::remove_all(dir);
  const auto seen = server.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].authorization == "Bearer first");
  CHECK(seen[1].authorization == "Bearer secnd");
}

TEST_CASE("a server that never answers times out within the request timeout", "[rest_client]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) { hold(stream); });
  auto client = make_client(config_for(server), RestClientOptions{Duration(500), "sluice"});
  const auto start = SteadyClock::now();
  auto answer = client->get("/slow");
  const long took = elapsed_ms(start);
  REQUIRE_FALSE(answer.is_ok());
  CHECK(answer.status().code() == StatusCode::kDeadlineExceeded);
  CHECK(answer.status().message() ==
        "read response from " + server.url() + ": timed out after 500 ms");
  CHECK(took >= 450);
  CHECK(took < 3000);
}

TEST_CASE("a declared body over 64 MiB is refused before it is read", "[rest_client]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
    write_raw(stream, "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n{");
    hold(stream);
  });
  auto answer = make_client(config_for(server))->get("/huge");
  REQUIRE_FALSE(answer.is_ok());
  CHECK(answer.status().message() ==
        "read response from " + server.url() + ": body larger than 64 MiB");
}

TEST_CASE("several threads can use one client at once", "[rest_client]") {
  TlsTestServer server(echo);
  auto client = make_client(config_for(server));
  constexpr int kThreads = 6;
  constexpr int kRequestsEach = 4;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&client, &failures, t] {
      for (int i = 0; i < kRequestsEach; ++i) {
        const std::string path = "/t/" + std::to_string(t) + "/" + std::to_string(i);
        auto answer = client->get(path);
        if (!answer.is_ok()) {
          failures[t] = answer.status().message();
        } else if (answer->json.value("target", "") != path) {
          failures[t] = "wrong answer for " + path;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& failure : failures) CHECK(failure.empty());
  CHECK(server.seen().size() == kThreads * kRequestsEach);
}

TEST_CASE("watch delivers chunked lines in order until the stream ends", "[rest_client][watch]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
    const std::string second = event("MODIFIED", "b");
    write_raw(stream, kWatchHeader);
    // An event split across chunks, two in one chunk, a bookmark, CRLF line ends.
    write_raw(stream, chunk(event("ADDED", "a") + second.substr(0, 10)));
    std::this_thread::sleep_for(50ms);
    write_raw(stream, chunk(second.substr(10) + event("BOOKMARK", "rv")));
    std::this_thread::sleep_for(50ms);
    std::string last = event("DELETED", "c");
    last.insert(last.size() - 1, "\r");
    write_raw(stream, chunk(last) + "0\r\n\r\n");
    hold(stream);
  });
  auto client = make_client(config_for(server));
  std::vector<std::string> got;
  std::atomic<bool> stop{false};
  Status status = client->watch(
      "/api/v1/pods?watch=1&resourceVersion=5&allowWatchBookmarks=true",
      [&got](const json& e) {
        got.push_back(e["type"].get<std::string>() + " " +
                      e["object"]["metadata"]["name"].get<std::string>());
        return true;
      },
      stop, Duration(5000));
  CHECK(status.is_ok());
  CHECK(got == std::vector<std::string>{"ADDED a", "MODIFIED b", "BOOKMARK rv", "DELETED c"});
  REQUIRE(server.seen().size() == 1);
  CHECK(server.seen()[0].target ==
        "/api/v1/pods?watch=1&resourceVersion=5&allowWatchBookmarks=true");
  CHECK(server.seen()[0].authorization == "Bearer t0ken");
}

TEST_CASE("watch ends when on_event returns false", "[rest_client][watch]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
    write_raw(stream, kWatchHeader);
    write_raw(stream, chunk(event("ADDED", "a") + event("ADDED", "b") + event("ADDED", "c")));
    hold(stream);
  });
  int calls = 0;
  std::atomic<bool> stop{false};
  Status status = make_client(config_for(server))
                      ->watch(
                          "/api/v1/pods?watch=1", [&calls](const json&) { return ++calls < 2; },
                          stop, Duration(5000));
  CHECK(status.is_ok());
  CHECK(calls == 2);
}

TEST_CASE("watch stop and idle timeout are bounded", "[rest_client][watch]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
    write_raw(stream, kWatchHeader);
    write_raw(stream, chunk(event("ADDED", "a")));
    hold(stream);
  });
  auto client = make_client(config_for(server));
  int events = 0;
  const auto count = [&events](const json&) {
    ++events;
    return true;
  };
  SECTION("stop") {
    std::atomic<bool> stop{false};
    std::thread stopper([&stop] {
      std::this_thread::sleep_for(300ms);
      stop = true;
    });
    const auto start = SteadyClock::now();
    Status status = client->watch("/api/v1/pods?watch=1", count, stop, Duration(60'000));
    const long took = elapsed_ms(start);
    stopper.join();
    CHECK(status.is_ok());
    CHECK(events == 1);
    CHECK(took >= 250);
    CHECK(took < 1500);
  }
  SECTION("idle timeout") {
    std::atomic<bool> stop{false};
    const auto start = SteadyClock::now();
    Status status = client->watch("/api/v1/pods?watch=1", count, stop, Duration(500));
    const long took = elapsed_ms(start);
    CHECK(status.code() == StatusCode::kDeadlineExceeded);
    CHECK(status.message() ==
          "watch /api/v1/pods?watch=1: no data from " + server.url() + " for 500 ms");
    CHECK(events == 1);
    CHECK(took >= 450);
    CHECK(took < 3000);
  }
  SECTION("stop set before the call") {
    std::atomic<bool> stop{true};
    CHECK(client->watch("/api/v1/pods?watch=1", count, stop, Duration(500)).is_ok());
    CHECK(events == 0);
  }
}

TEST_CASE("watch reports 410 Gone as FailedPrecondition", "[rest_client][watch]") {
  std::atomic<bool> stop{false};
  const auto never = [](const json&) { return true; };
  SECTION("as an HTTP answer") {
    TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
      respond(stream, 410,
              R"j({"kind":"Status","status":"Failure","message":"too old resource version: 1 )j"
              R"j((99)","reason":"Expired","code":410})j");
    });
    Status status = make_client(config_for(server))
                        ->watch("/api/v1/pods?watch=1", never, stop, Duration(5000));
    CHECK(status.code() == StatusCode::kFailedPrecondition);
    CHECK(status.message().rfind(
              "watch /api/v1/pods?watch=1: HTTP 410 Expired: too old resource version: 1 (99)",
              0) == 0);
    CHECK(status.message().find("410 Gone") != std::string::npos);
  }
  SECTION("as an ERROR event") {
    TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
      write_raw(stream, kWatchHeader);
      write_raw(stream, chunk(R"j({"type":"ERROR","object":{"kind":"Status","status":"Failure",)j"
                              R"j("message":"too old resource version: 1 (99)",)j"
                              R"j("reason":"Expired","code":410}})j"
                              "\n"));
      hold(stream);
    });
    int events = 0;
    Status status = make_client(config_for(server))
                        ->watch(
                            "/api/v1/pods?watch=1",
                            [&events](const json&) {
                              ++events;
                              return true;
                            },
                            stop, Duration(5000));
    CHECK(status.code() == StatusCode::kFailedPrecondition);
    CHECK(status.message().find("410 Gone") != std::string::npos);
    CHECK(events == 0);
  }
  SECTION("other refusals keep their code") {
    TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
      respond(stream, 403,
              R"j({"kind":"Status","message":"pods is forbidden","reason":"Forbidden"})j");
    });
    Status status = make_client(config_for(server))
                        ->watch("/api/v1/pods?watch=1", never, stop, Duration(5000));
    CHECK(status.code() == StatusCode::kPermissionDenied);
    CHECK(status.message() ==
          "watch /api/v1/pods?watch=1: HTTP 403 Forbidden: pods is forbidden");
  }
}

TEST_CASE("watch refuses a line that is not JSON without quoting it", "[rest_client][watch]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) {
    write_raw(stream, kWatchHeader);
    write_raw(stream, chunk(event("ADDED", "a") + "s3cr3t-not-json\n"));
    hold(stream);
  });
  std::atomic<bool> stop{false};
  Status status = make_client(config_for(server))
                      ->watch(
                          "/api/v1/secrets?watch=1", [](const json&) { return true; }, stop,
                          Duration(5000));
  CHECK(status.code() == StatusCode::kUnavailable);
  CHECK(status.message() == "watch /api/v1/secrets?watch=1: event 2 is not a JSON object");
}
