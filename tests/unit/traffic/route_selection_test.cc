#include <catch2/catch.hpp>

#include "traffic/route_selection.h"

namespace sluice::traffic {
namespace {

struct Fixture {
  SimulatedClock clock;
  std::map<std::string, std::shared_ptr<EndpointState>> endpoints;

  std::shared_ptr<const CompiledTable> compile(const std::vector<RevisionRoute>& revs,
                                               const std::vector<HeaderRoute>& routes = {}) {
    auto table = compile_table(
        revs, routes,
        [&](const Endpoint& e) {
          auto& s = endpoints[e.instance_id];
          if (!s) s = std::make_shared<EndpointState>(e, boost::asio::ip::tcp::endpoint());
          return s;
        },
        [&](const RevisionRoute&) { return std::make_shared<RevisionStats>(clock); });
    REQUIRE(table);
    return *table;
  }
};

RevisionRoute rev(int64_t n, std::string role, int weight, std::vector<std::string> ids) {
  RevisionRoute r;
  r.revision = n;
  r.version = "v" + std::to_string(n);
  r.role = std::move(role);
  r.weight_percent = weight;
  for (auto& id : ids) r.ready_endpoints.push_back({id, "127.0.0.1", 1000});
  return r;
}

int64_t chosen(const CompiledTable& t, uint32_t roll,
               const boost::beast::http::fields& headers = {}) {
  auto c = choose(t, headers, roll, 0);
  return c ? c->revision->revision : -1;
}

TEST_CASE("weighted choice follows the cumulative weights", "[traffic][unit]") {
  Fixture f;
  auto t = f.compile({rev(1, "stable", 80, {"a"}), rev(2, "canary", 20, {"b"})});
  const uint32_t max = 0xFFFFFFFFu;
  CHECK(chosen(*t, 0) == 1);
  CHECK(chosen(*t, static_cast<uint32_t>(max * 0.79)) == 1);
  CHECK(chosen(*t, static_cast<uint32_t>(max * 0.81)) == 2);
  CHECK(chosen(*t, max) == 2);
}

TEST_CASE("unready revisions fall back to stable, nothing ready is empty", "[traffic][unit]") {
  Fixture f;
  auto t = f.compile({rev(1, "stable", 0, {"a"}), rev(2, "canary", 100, {})});
  CHECK(chosen(*t, 12345) == 1);
  auto none = f.compile({rev(1, "stable", 100, {}), rev(2, "canary", 0, {"b"})});
  CHECK(chosen(*none, 12345) == -1);
  f.endpoints["a"]->drained = true;
  CHECK(chosen(*t, 12345) == -1);
}

TEST_CASE("least outstanding endpoint wins", "[traffic][unit]") {
  Fixture f;
  auto t = f.compile({rev(1, "stable", 100, {"a", "b", "c"})});
  f.endpoints["a"]->outstanding = 3;
  f.endpoints["b"]->outstanding = 1;
  f.endpoints["c"]->outstanding = 2;
  auto c = choose(*t, {}, 0, 7);
  REQUIRE(c);
  CHECK((*c->endpoint)->endpoint.instance_id == "b");
}

TEST_CASE("header routes match exact, prefix and whole-value regex", "[traffic][unit]") {
  Fixture f;
  HeaderRoute h;
  h.name = "testers";
  h.revision = 2;
  manifests::HeaderRouteMatch m;
  m.header_name = "X-Canary";
  m.header_value.regex = "yes|1";
  h.match.push_back(m);
  auto t = f.compile({rev(1, "stable", 100, {"a"}), rev(2, "canary", 0, {"b"})}, {h});
  boost::beast::http::fields headers;
  CHECK(chosen(*t, 5, headers) == 1);
  headers.set("X-Canary", "yes");
  CHECK(chosen(*t, 5, headers) == 2);
  headers.set("X-Canary", "yes2");
  CHECK(chosen(*t, 5, headers) == 1);

  h.match[0].header_value = {};
  h.match[0].header_value.prefix = "qa-";
  t = f.compile({rev(1, "stable", 100, {"a"}), rev(2, "canary", 0, {"b"})}, {h});
  headers.set("X-Canary", "qa-x");
  CHECK(chosen(*t, 5, headers) == 2);

  h.revision = 9;
  auto bad = compile_table(
      {rev(1, "stable", 100, {})}, {h}, [](const Endpoint&) { return nullptr; },
      [&](const RevisionRoute&) { return std::make_shared<RevisionStats>(f.clock); });
  CHECK(!bad);
}

}  // namespace
}  // namespace sluice::traffic
