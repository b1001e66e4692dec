#include "manifests/condition.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>

using sluice::manifests::Condition;

namespace {

bool eval_scalar(const std::string& text, double result) {
  auto c = Condition::parse(text);
  INFO(text << " -> " << c.status().to_string());
  REQUIRE(c.is_ok());
  auto r = c->evaluate(result);
  INFO("evaluate: " << r.status().to_string());
  REQUIRE(r.is_ok());
  return *r;
}

bool eval_vector(const std::string& text, const std::vector<double>& result) {
  auto c = Condition::parse(text);
  INFO(text << " -> " << c.status().to_string());
  REQUIRE(c.is_ok());
  auto r = c->evaluate(result, true);
  INFO("evaluate: " << r.status().to_string());
  REQUIRE(r.is_ok());
  return *r;
}

std::string parse_error(const std::string& text) {
  auto c = Condition::parse(text);
  REQUIRE_FALSE(c.is_ok());
  return c.status().message();
}

}  // namespace

TEST_CASE("condition: scalar comparisons", "[condition]") {
  struct Case {
    const char* text;
    double result;
    bool want;
  };
  const Case cases[] = {
      {"result >= 0.99", 0.99, true},
      {"result >= 0.99", 0.98, false},
      {"result > 0.5", 0.5, false},
      {"result < 0.9", 0.5, true},
      {"result <= 1", 1, true},
      {"result == 3", 3, true},
      {"result != 3", 3, false},
      {"0.5 < result", 0.7, true},
      {"result > -1", -0.5, true},
      {"result < 1e3", 999, true},
      {"result < 1.5E-2", 0.01, true},
      {"result >= .5", 0.5, true},
      {"true", 0, true},
      {"false", 0, false},
      {"!(result > 1)", 2, false},
      {"!!true", 0, true},
  };
  for (const auto& c : cases) {
    INFO(c.text << " with " << c.result);
    CHECK(eval_scalar(c.text, c.result) == c.want);
  }
}

TEST_CASE("condition: boolean operators and precedence", "[condition]") {
  // && binds tighter than ||.
  CHECK(eval_scalar("result > 10 || result > 1 && result < 3", 2));
  CHECK_FALSE(eval_scalar("(result > 10 || result > 1) && result < 3", 5));
  CHECK(eval_scalar("result > 10 || result > 1 && result < 3", 11));
  CHECK(eval_scalar("!(result < 0) && result < 1", 0.5));
  CHECK(eval_scalar("true == true", 0));
  CHECK(eval_scalar("(result > 1) != false", 2));
}

TEST_CASE("condition: NaN", "[condition]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(eval_scalar("isNaN(result)", nan));
  CHECK_FALSE(eval_scalar("isNaN(result)", 1));
  CHECK_FALSE(eval_scalar("result >= 0.99", nan));  // IEEE: every comparison with NaN is false
  CHECK(eval_scalar("result != 1", nan));
  CHECK(eval_scalar("isNaN(result) || result > 0.9", nan));
}

TEST_CASE("condition: vectors, index, len", "[condition]") {
  CHECK(eval_vector("result[0] > 1", {2, 0}));
  CHECK_FALSE(eval_vector("result[1] > 1", {2, 0}));
  CHECK(eval_vector("len(result) == 3", {1, 2, 3}));
  CHECK(eval_vector("len(result) == 0", {}));
  // Short-circuit guards an index on an empty vector.
  CHECK_FALSE(eval_vector("len(result) > 0 && result[0] > 1", {}));
  // A scalar is a vector of one for indexing and len().
  CHECK(eval_scalar("result[0] == 7", 7));
  CHECK(eval_scalar("len(result) == 1", 7));
}

TEST_CASE("condition: all() and any()", "[condition]") {
  CHECK(eval_vector("all(result < 5)", {1, 2, 3}));
  CHECK_FALSE(eval_vector("all(result < 3)", {1, 2, 3}));
  CHECK(eval_vector("any(result >= 3)", {1, 2, 3}));
  CHECK_FALSE(eval_vector("any(result > 3)", {1, 2, 3}));
  CHECK(eval_vector("all(5 > result)", {1, 2, 3}));
  CHECK(eval_vector("all(result, x => x > 0 && x < 4)", {1, 2, 3}));
  CHECK_FALSE(eval_vector("all(result, x => x > 1)", {1, 2, 3}));
  CHECK(eval_vector("any(result, v => isNaN(v))", {1, std::numeric_limits<double>::quiet_NaN()}));
  // Empty vectors: all is vacuously true, any is false.
  CHECK(eval_vector("all(result < 0)", {}));
  CHECK_FALSE(eval_vector("any(result, x => x > 0)", {}));
  // Nested lambdas see their own and the outer parameter.
  CHECK(eval_vector("all(result, x => any(result, y => y > x) || x == 3)", {1, 2, 3}));
}

TEST_CASE("condition: evaluation errors are values", "[condition]") {
  auto c = Condition::parse("result[2] > 1");
  REQUIRE(c.is_ok());
  auto r = c->evaluate({1, 2}, true);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("out of range") != std::string::npos);
  CHECK(r.status().message().find("column 1") != std::string::npos);

  auto v = Condition::parse("result > 1");
  REQUIRE(v.is_ok());
  auto vr = v->evaluate({1, 2}, true);
  REQUIRE_FALSE(vr.is_ok());
  CHECK(vr.status().message().find("all() or any()") != std::string::npos);

  auto n = Condition::parse("result");
  REQUIRE(n.is_ok());
  CHECK_FALSE(n->evaluate(1.0).is_ok());

  auto l = Condition::parse("isNaN(result)");
  REQUIRE(l.is_ok());
  CHECK_FALSE(l->evaluate({1, 2}, true).is_ok());

  Condition empty;
  CHECK_FALSE(empty.evaluate(1.0).is_ok());
}

TEST_CASE("condition: parse errors name the column", "[condition]") {
  struct Case {
    const char* text;
    const char* column;
    const char* fragment;
  };
  const Case cases[] = {
      {"", "column 1", "empty"},
      {"result >", "column 9", "expected a value"},
      {"result >= 0.9 &&", "column 17", "expected a value"},
      {"foo > 1", "column 1", "unknown identifier 'foo'"},
      {"result > 1 + 2", "column 12", "unexpected character '+'"},
      {"(result > 1", "column 12", "expected ')'"},
      {"result > 1)", "column 11", "unexpected ')'"},
      {"1 < result < 2", "column 12", "chained"},
      {"result[-1] > 0", "column 8", "index"},
      {"result[1.5] > 0", "column 8", "index"},
      {"all(result, result => result > 1)", "column 13", "lambda parameter"},
      {"all(result, x > 1)", "column 15", "expected '=>'"},
      {"all(result, x y)", "column 15", "'=>'"},
      {"all(result, x => y > 1)", "column 18", "unknown identifier 'y'"},
      {"x > 1", "column 1", "unknown identifier 'x'"},
      {"result = 1", "column 8", "unexpected character '='"},
      {"result & 1", "column 8", "unexpected character '&'"},
      {"1.2.3 > 1", "column 4", ""},
      {"12abc > 1", "column 3", "after number"},
      {"1e > 1", "column 1", "exponent"},
      {"len result", "column 5", "expected '('"},
      {"result in [1]", "column 8", "unexpected 'in'"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    const std::string msg = parse_error(c.text);
    INFO(msg);
    CHECK(msg.rfind(c.column, 0) == 0);
    CHECK(msg.find(c.fragment) != std::string::npos);
  }
}

TEST_CASE("condition: depth is bounded at 64", "[condition]") {
  std::string ok = "result > 1";
  for (int i = 0; i < 10; ++i) ok = "(" + ok + ")";
  CHECK(Condition::parse(ok).is_ok());

  std::string deep = "result > 1";
  for (int i = 0; i < 100; ++i) deep = "(" + deep + ")";
  auto c = Condition::parse(deep);
  REQUIRE_FALSE(c.is_ok());
  CHECK(c.status().message().find("nested too deeply") != std::string::npos);

  std::string nots(200, '!');
  CHECK_FALSE(Condition::parse(nots + "true").is_ok());

  // A long chain of && deepens the tree, so it is bounded too.
  std::string chain = "true";
  for (int i = 0; i < 200; ++i) chain += " && true";
  CHECK_FALSE(Condition::parse(chain).is_ok());
  std::string short_chain = "true";
  for (int i = 0; i < 10; ++i) short_chain += " && true";
  CHECK(Condition::parse(short_chain).is_ok());
}

TEST_CASE("condition: text is kept and conditions move", "[condition]") {
  auto c = Condition::parse("result >= 0.99");
  REQUIRE(c.is_ok());
  Condition moved = std::move(c).value();
  CHECK(moved.text() == "result >= 0.99");
  CHECK(*moved.evaluate(1.0));
}
