// parse_server_url: https only, ports, IPv6, a path prefix.
#include "kube/server_url.h"

#include <catch2/catch.hpp>

using sluice::kube::parse_server_url;

TEST_CASE("server URLs parse into host, port and path prefix", "[server_url]") {
  auto ip = parse_server_url("https://127.0.0.1:6443");
  REQUIRE(ip.is_ok());
  CHECK(ip->host == "127.0.0.1");
  CHECK(ip->port == "6443");
  CHECK(ip->host_is_ip);
  CHECK(ip->base_path.empty());
  CHECK(ip->origin() == "https://127.0.0.1:6443");

  auto name = parse_server_url("https://rancher.example/k8s/clusters/c-1/");
  REQUIRE(name.is_ok());
  CHECK(name->host == "rancher.example");
  CHECK(name->port == "443");
  CHECK_FALSE(name->host_is_ip);
  CHECK(name->base_path == "/k8s/clusters/c-1");
  CHECK(name->authority() == "rancher.example:443");

  auto v6 = parse_server_url("https://[::1]:6443");
  REQUIRE(v6.is_ok());
  CHECK(v6->host == "::1");
  CHECK(v6->host_is_ip);
  CHECK(v6->authority() == "[::1]:6443");
}

TEST_CASE("server URLs that are refused", "[server_url]") {
  auto http = parse_server_url("http://127.0.0.1:8080");
  REQUIRE_FALSE(http.is_ok());
  CHECK(http.status().message().find("http://127.0.0.1:8080 is refused") != std::string::npos);
  CHECK_FALSE(parse_server_url("").is_ok());
  CHECK_FALSE(parse_server_url("127.0.0.1:6443").is_ok());
  CHECK_FALSE(parse_server_url("https://:6443").is_ok());
  CHECK_FALSE(parse_server_url("https://host:0").is_ok());
  CHECK_FALSE(parse_server_url("https://host:65536").is_ok());
  CHECK_FALSE(parse_server_url("https://host:12x").is_ok());
  CHECK_FALSE(parse_server_url("https://host:").is_ok());
  CHECK_FALSE(parse_server_url("https://user:pw@host").is_ok());
  CHECK_FALSE(parse_server_url("https://host/?x=1").is_ok());
  CHECK_FALSE(parse_server_url("https://[::1").is_ok());
}
