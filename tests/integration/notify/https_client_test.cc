// base/http_client over https against a real TLS server on loopback, with a CA made in the test
// (tls_test_server.h): the peer is verified against the given CA, SNI is sent, the host name is
// checked, and a certificate from another CA is refused with a clear error.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/http_client.h"
#include "tests/support/process/test_process.h"
#include "tls_test_server.h"

using sluice::HttpRequest;
using sluice::HttpResponse;
using sluice::Result;
using sluice::kube::testing::respond;
using sluice::kube::testing::SeenRequest;
using sluice::kube::testing::test_pki;
using sluice::kube::testing::TlsStream;
using sluice::kube::testing::TlsTestServer;

namespace {

Result<HttpResponse> fetch(HttpRequest request) {
  boost::asio::io_context ioc;
  std::optional<Result<HttpResponse>> out;
  sluice::http_fetch(ioc.get_executor(), std::move(request),
                     [&](Result<HttpResponse> r) { out = std::move(r); });
  ioc.run();
  REQUIRE(out.has_value());
  return std::move(*out);
}

std::string write_file(const sluice::testing::TempDir& dir, const std::string& name,
                       const std::string& content) {
  const std::string path = dir.file(name);
  std::ofstream(path) << content;
  return path;
}

}  // namespace

TEST_CASE("https: a server whose certificate the given CA signed answers and gets SNI and Host",
          "[notify][https]") {
  TlsTestServer server([](const SeenRequest& seen, TlsStream& stream) {
    respond(stream, 200, "{\"sni\":\"" + seen.sni + "\",\"body\":\"" + seen.body + "\"}");
  });
  sluice::testing::TempDir dir;
  HttpRequest request;
  request.method = "POST";
  request.url = "https://localhost:" + std::to_string(server.port()) + "/hooks/x";
  request.body = "hello";
  request.ca_file = write_file(dir, "ca.pem", test_pki().ca_pem);
  auto r = fetch(request);
  REQUIRE(r.is_ok());
  CHECK(r->status == 200);
  const auto answer = nlohmann::json::parse(r->body);
  CHECK(answer["sni"] == "localhost");
  CHECK(answer["body"] == "hello");
  const auto seen = server.seen();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].target == "/hooks/x");
  CHECK(seen[0].host == "localhost:" + std::to_string(server.port()));

  // An IP address is checked against the certificate's IP SAN (and sends no SNI).
  request.url = server.url() + "/ip";
  auto by_ip = fetch(request);
  REQUIRE(by_ip.is_ok());
  CHECK(nlohmann::json::parse(by_ip->body)["sni"] == "");
}

TEST_CASE("https: a certificate from another CA is refused with a clear error",
          "[notify][https]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) { respond(stream, 200, "{}"); });
  sluice::testing::TempDir dir;
  HttpRequest request;
  request.method = "POST";
  request.url = server.url() + "/secret-path-token";
  request.ca_file = write_file(dir, "other.pem", test_pki().other_ca_pem);
  auto r = fetch(request);
  REQUIRE_FALSE(r.is_ok());
  const std::string message = r.status().message();
  INFO(message);
  CHECK(message.find("TLS handshake with 127.0.0.1:" + std::to_string(server.port())) == 0);
  CHECK(message.find("certificate verify failed") != std::string::npos);
  CHECK(message.find("secret-path-token") == std::string::npos);
  CHECK(server.seen().empty());

  // Without caFile the system CAs are used, and they do not know the test CA either.
  request.ca_file.clear();
  auto system = fetch(request);
  REQUIRE_FALSE(system.is_ok());
  CHECK(system.status().message().find("certificate verify failed") != std::string::npos);
}

TEST_CASE("https: a certificate that does not name the host is refused", "[notify][https]") {
  TlsTestServer server([](const SeenRequest&, TlsStream& stream) { respond(stream, 200, "{}"); });
  sluice::testing::TempDir dir;
  HttpRequest request;
  // "127.1" resolves to 127.0.0.1 (the listener) but is a name the certificate does not carry
  // (it names IP 127.0.0.1 and DNS localhost).
  request.url = "https://127.1:" + std::to_string(server.port()) + "/";
  request.ca_file = write_file(dir, "ca.pem", test_pki().ca_pem);
  auto r = fetch(request);
  REQUIRE_FALSE(r.is_ok());
  INFO(r.status().message());
  CHECK(r.status().message().find("does not name 127.1") != std::string::npos);
}

TEST_CASE("https: a missing CA file is an error naming the file", "[notify][https]") {
  HttpRequest request;
  request.url = "https://127.0.0.1:1/";
  request.ca_file = "/nonexistent/ca.pem";
  auto r = fetch(request);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("/nonexistent/ca.pem") != std::string::npos);
}
