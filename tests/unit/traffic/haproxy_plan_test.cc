#include <catch2/catch.hpp>

#include "traffic/haproxy_router.h"

namespace sluice::traffic {
namespace {

TEST_CASE("haproxy server names carry the revision", "[traffic][unit]") {
  CHECK(haproxy_server_name(12, "orders-api/3") == "r12-orders-api_3");
  CHECK(haproxy_server_revision("r12-orders-api_3") == 12);
  CHECK(!haproxy_server_revision("web1"));
  CHECK(!haproxy_server_revision("r12"));
  CHECK(!haproxy_server_revision("rx-1"));
}

TEST_CASE("show servers state parses", "[traffic][unit]") {
  const std::string answer =
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
      "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
      "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port\n"
      "3 orders 1 r1-a 127.0.0.1 2 1 50 10 0 1 0 0 0 0 0 0 - 9998\n\n";
  auto s = parse_servers_state(answer);
  REQUIRE(s);
  REQUIRE(s->size() == 1);
  CHECK((*s)[0].name == "r1-a");
  CHECK((*s)[0].port == 9998);
  CHECK((*s)[0].weight == 50);
  CHECK((*s)[0].in_maintenance());
  CHECK(!parse_servers_state("Can't find backend.\n\n"));
}

TEST_CASE("desired weights keep the revision split", "[traffic][unit]") {
  RouteTable t;
  RevisionRoute stable{1, "v1", "stable", 75, {{"s0", "127.0.0.1", 1}, {"s1", "127.0.0.1", 2}}};
  RevisionRoute canary{2, "v2", "canary", 25, {{"c0", "localhost", 3}}};
  t.revisions = {stable, canary};
  auto d = haproxy_desired_servers(t, {});
  REQUIRE(d.size() == 3);
  // 37.5% per stable server vs 25% for the canary one: 256 vs 171.
  CHECK(d[0].weight == 256);
  CHECK(d[1].weight == 256);
  CHECK(d[2].weight == 171);
  CHECK(d[2].addr == "127.0.0.1");
  auto drained = haproxy_desired_servers(t, {"s1@127.0.0.1:2"});
  CHECK(drained.size() == 2);
}

TEST_CASE("haproxy plan sends only differences", "[traffic][unit]") {
  std::vector<HaproxyServerState> current = {
      {"r1-s0", "127.0.0.1", 1, 2, 0, 256},
      {"r1-old", "127.0.0.1", 9, 2, 0, 10},
      {"static-web", "127.0.0.1", 80, 2, 0, 1},
  };
  std::vector<HaproxyDesiredServer> desired = {{"r1-s0", "127.0.0.1", 1, 256},
                                               {"r2-c0", "127.0.0.1", 3, 5}};
  auto plan = haproxy_plan("orders", current, desired);
  std::vector<std::string> texts;
  for (auto& c : plan) texts.push_back(c.text);
  // The pool settings give the dynamic server the idle-connection reuse of a `server` line.
  CHECK(texts == std::vector<std::string>{"add server orders/r2-c0 127.0.0.1:3 weight 5 "
                                          "pool-purge-delay 5s pool-max-conn -1",
                                          "set server orders/r2-c0 state ready",
                                          "set server orders/r1-old state maint",
                                          "del server orders/r1-old"});
  current[0].weight = 3;
  current.erase(current.begin() + 1);
  desired.pop_back();
  plan = haproxy_plan("orders", current, desired);
  REQUIRE(plan.size() == 1);
  CHECK(plan[0].text == "set weight orders/r1-s0 256");
}

}  // namespace
}  // namespace sluice::traffic

namespace sluice::traffic {
namespace {

TEST_CASE("weight of a revision without ready servers falls back to stable", "[traffic][unit]") {
  RouteTable t;
  t.revisions = {RevisionRoute{1, "v1", "stable", 0, {{"s0", "127.0.0.1", 1}}},
                 RevisionRoute{2, "v2", "canary", 100, {}}};
  auto d = haproxy_desired_servers(t, {});
  REQUIRE(d.size() == 1);
  CHECK(d[0].weight == 256);
}

}  // namespace
}  // namespace sluice::traffic

namespace sluice::traffic {
namespace {

manifests::HeaderRouteMatch header(std::string name, std::optional<std::string> exact,
                                   std::optional<std::string> prefix = std::nullopt,
                                   std::optional<std::string> regex = std::nullopt) {
  manifests::HeaderRouteMatch m;
  m.header_name = std::move(name);
  m.header_value.exact = std::move(exact);
  m.header_value.prefix = std::move(prefix);
  m.header_value.regex = std::move(regex);
  return m;
}

TEST_CASE("header route regexes escape literals and require every match", "[traffic][unit]") {
  CHECK(haproxy_header_route_regex({header("X-Canary", "1")}) ==
        R"((?m)\A(?=[\s\S]*?^(?i:X\-Canary):[\x20\t]*1[\x20\t]*\r?$))");
  CHECK(haproxy_header_route_regex({header("X-User", std::nullopt, "qa. x")}) ==
        R"((?m)\A(?=[\s\S]*?^(?i:X\-User):[\x20\t]*qa\.\x20x[^\r\n]*?[\x20\t]*\r?$))");
  CHECK(haproxy_header_route_regex(
            {header("B", std::nullopt, std::nullopt, "[0-9]+"), header("C", "é")}) ==
        "(?m)\\A(?=[\\s\\S]*?^(?i:B):[\\x20\\t]*(?:[0-9]+)[\\x20\\t]*\\r?$)"
        "(?=[\\s\\S]*?^(?i:C):[\\x20\\t]*é[\\x20\\t]*\\r?$)");
}

TEST_CASE("runtime API arguments and map answers", "[traffic][unit]") {
  CHECK(haproxy_cli_escape(R"(a b;c\d)") == R"(a\ b\;c\\d)");
  auto maps = parse_map_list(
      "# id (file) description\n"
      "0 (/etc/haproxy/orders-header-routes.map) pattern loaded from file "
      "'/etc/haproxy/orders-header-routes.map' used by map at file 'h.cfg' line 11. curr_ver=0 "
      "next_ver=0 entry_cnt=0\n\n");
  REQUIRE(maps);
  CHECK(*maps == std::vector<std::string>{"/etc/haproxy/orders-header-routes.map"});
  auto none = parse_map_list("# id (file) description\n\n");
  REQUIRE(none);
  CHECK(none->empty());
  CHECK(!parse_map_list("Unknown command.\n"));

  auto entries = parse_map_entries("0x5603 (?m)\\A(?=a b) orders-canary\n\n");
  REQUIRE(entries);
  REQUIRE(entries->size() == 1);
  CHECK((*entries)[0].first == "(?m)\\A(?=a b)");
  CHECK((*entries)[0].second == "orders-canary");
  CHECK(parse_map_entries("\n")->empty());
  CHECK(!parse_map_entries("Unknown map identifier. Please use #<id> or <file>.\n"));
  CHECK(haproxy_canary_backend("orders") == "orders-canary");
  CHECK(haproxy_header_map_suffix("orders") == "orders-header-routes.map");
}

}  // namespace
}  // namespace sluice::traffic
