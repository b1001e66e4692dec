// RestClient::create checks its configuration before any connection is made.
#include <catch2/catch.hpp>

#include "kube/rest_client.h"

using sluice::StatusCode;
using sluice::kube::ClusterConfig;
using sluice::kube::patch_content_type;
using sluice::kube::PatchType;
using sluice::kube::RestClient;
using sluice::kube::RestClientOptions;

namespace {

ClusterConfig base_config() {
  ClusterConfig c;
  c.server = "https://127.0.0.1:6443";
  c.token = "s3cr3t";
  c.source = "kubeconfig /x (context y)";
  return c;
}

std::string create_error(const ClusterConfig& c, RestClientOptions options = {}) {
  auto client = RestClient::create(c, options);
  REQUIRE_FALSE(client.is_ok());
  CHECK(client.status().message().find("s3cr3t") == std::string::npos);
  return client.status().message();
}

}  // namespace

TEST_CASE("create accepts a token config and keeps it", "[rest_client]") {
  auto client = RestClient::create(base_config());
  REQUIRE(client.is_ok());
  CHECK((*client)->config().server == "https://127.0.0.1:6443");
}

TEST_CASE("create refuses bad configurations with the source named", "[rest_client]") {
  ClusterConfig c = base_config();
  SECTION("http") {
    c.server = "http://127.0.0.1:8080";
    CHECK(create_error(c).rfind("kubeconfig /x (context y): http://127.0.0.1:8080 is refused", 0) ==
          0);
  }
  SECTION("a CA bundle that is not PEM") {
    c.ca_pem = "not a certificate";
    CHECK(create_error(c).rfind("kubeconfig /x (context y): certificate authority: ", 0) == 0);
  }
  SECTION("a client certificate without a key") {
    c.client_cert_pem = "-----BEGIN CERTIFICATE-----\n";
    CHECK(create_error(c).find("needs both a certificate and a key") != std::string::npos);
  }
  SECTION("a client key that is not PEM") {
    c.client_cert_pem = "garbage";
    c.client_key_pem = "s3cr3t key";
    CHECK(create_error(c).find("client certificate: ") != std::string::npos);
  }
  SECTION("an unreadable token file") {
    c.token.clear();
    c.token_file = "/nonexistent-dir/token";
    CHECK(create_error(c).find("cannot read /nonexistent-dir/token") != std::string::npos);
  }
  SECTION("a token that would break the header") {
    c.token = "s3cr3t\r\nX-Evil: 1";
    CHECK(create_error(c).find("whitespace or control characters") != std::string::npos);
  }
  SECTION("a zero timeout") {
    CHECK(create_error(c, RestClientOptions{sluice::Duration(0), "sluice"})
              .find("timeout must be positive") != std::string::npos);
  }
}

TEST_CASE("patch types map to the apiserver content types", "[rest_client]") {
  CHECK(std::string(patch_content_type(PatchType::kMerge)) == "application/merge-patch+json");
  CHECK(std::string(patch_content_type(PatchType::kStrategicMerge)) ==
        "application/strategic-merge-patch+json");
  CHECK(std::string(patch_content_type(PatchType::kJson)) == "application/json-patch+json");
  CHECK(std::string(patch_content_type(PatchType::kApply)) == "application/apply-patch+yaml");
}
