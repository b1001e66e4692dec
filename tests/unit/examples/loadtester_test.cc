#include <catch2/catch.hpp>

#include "examples/loadtester/load_test.h"
#include "examples/loadtester/wrk_output.h"

using namespace sluice::examples;

TEST_CASE("wrk's report: requests, non-2xx/3xx responses and socket errors", "[loadtester]") {
  const std::string clean = R"(Running 1s test @ http://127.0.0.1:18081/orders
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   210.00us  100.00us   2.00ms   90.00%
    Req/Sec    15.00k     1.00k   16.00k    70.00%
  14950 requests in 1.00s, 2.10MB read
Requests/sec:  14950.00
Transfer/sec:      2.10MB
)";
  auto r = parse_wrk_output(clean);
  REQUIRE(r);
  CHECK(r->requests == 14950);
  CHECK(r->non_2xx_3xx == 0);
  CHECK(r->socket_errors() == 0);
  CHECK(r->requests_per_second == Approx(14950));
  CHECK(r->clean());

  const std::string bad = R"(Running 1s test @ http://127.0.0.1:18081/orders
  2 threads and 4 connections
  812 requests in 1.00s, 100.00KB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 402
Requests/sec:    811.00
)";
  r = parse_wrk_output(bad);
  REQUIRE(r);
  CHECK(r->requests == 812);
  CHECK(r->non_2xx_3xx == 402);
  CHECK(r->read_errors == 3);
  CHECK(r->write_errors == 1);
  CHECK(r->timeouts == 2);
  CHECK(r->socket_errors() == 6);
  CHECK_FALSE(r->clean());
  CHECK(r->describe() ==
        "812 requests, 402 non-2xx/3xx responses, 6 socket errors (connect 0, read 3, write 1, "
        "timeout 2)");

  // Nothing ran (wrk's usage text, or a connection refused before any request).
  CHECK_FALSE(parse_wrk_output("Usage: wrk <options> <url>\n"));
  r = parse_wrk_output("  0 requests in 1.00s, 0.00B read\n  Socket errors: connect 4, read 0, "
                       "write 0, timeout 0\n");
  REQUIRE(r);
  CHECK_FALSE(r->clean());
}

TEST_CASE("the load-test hook takes loopback targets only, with bounded duration and "
          "connections",
          "[loadtester]") {
  CHECK(is_loopback_http_url("http://127.0.0.1:8080/x"));
  CHECK(is_loopback_http_url("http://127.3.2.1/"));
  CHECK(is_loopback_http_url("http://localhost:1"));
  CHECK(is_loopback_http_url("http://[::1]:80/"));
  CHECK_FALSE(is_loopback_http_url("http://10.0.0.1:8080/"));
  CHECK_FALSE(is_loopback_http_url("http://127.0.0.1.evil.example/"));
  CHECK_FALSE(is_loopback_http_url("http://user@127.0.0.1/"));
  CHECK_FALSE(is_loopback_http_url("https://127.0.0.1/"));
  CHECK_FALSE(is_loopback_http_url("http://128.0.0.1/"));

  LoadTestLimits limits;
  limits.max_duration_seconds = 30;
  limits.max_connections = 8;
  auto ok = load_test_from_body(
      R"({"name":"shop","namespace":"default","phase":"Progressing","revision":2,)"
      R"("metadata":{"url":"http://127.0.0.1:9/orders","duration":"5s","connections":"4"}})",
      limits);
  REQUIRE(ok);
  CHECK(ok->url == "http://127.0.0.1:9/orders");
  CHECK(ok->duration_seconds == 5);
  CHECK(ok->connections == 4);
  CHECK(ok->threads == 2);
  CHECK(ok->rollout == "shop");

  struct Case {
    const char* metadata;
    const char* field;
  };
  for (const Case& c : {Case{R"({})", "metadata.url"},
                        Case{R"({"url":"http://example.com/"})", "metadata.url"},
                        Case{R"({"url":"http://127.0.0.1/","duration":"31s"})", "metadata.duration"},
                        Case{R"({"url":"http://127.0.0.1/","duration":"soon"})", "metadata.duration"},
                        Case{R"({"url":"http://127.0.0.1/","connections":"9"})",
                             "metadata.connections"},
                        Case{R"({"url":"http://127.0.0.1/","connections":"0"})",
                             "metadata.connections"}}) {
    INFO(c.metadata);
    auto r = load_test_from_body(std::string(R"({"name":"shop","metadata":)") + c.metadata + "}",
                                 limits);
    REQUIRE_FALSE(r);
    CHECK(r.status().message().rfind(c.field, 0) == 0);
  }
  CHECK_FALSE(load_test_from_body("not json", limits));
}
