#include <catch2/catch.hpp>
#include <vector>

#include "healthcheck/analysis/mann_whitney.h"

using sluice::analysis::mann_whitney;

// Reference 1: R's ?wilcox.test example (Hollander & Wolfe 1973, p. 69: permeability constants,
// x = at term, y = 12-26 weeks). R prints `W = 35` for wilcox.test(x, y). The two-sided p-value
// 0.2446236 is R's normal-approximation formula (exact = FALSE, correct = TRUE) evaluated
// independently (Python math.erfc) while writing this test.
TEST_CASE("mann-whitney: R wilcox.test example, W = 35", "[judge]") {
  const std::vector<double> x = {0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46};
  const std::vector<double> y = {1.15, 0.88, 0.90, 0.74, 1.21};
  auto r = mann_whitney(x, y, 0.95);
  REQUIRE(r.is_ok());
  CHECK(r->u == Approx(35.0));
  CHECK(r->z == Approx(1.1635076).epsilon(1e-6));
  CHECK(r->p_value == Approx(0.2446236).epsilon(1e-5));
  CHECK(r->ci_low <= r->estimate);
  CHECK(r->estimate <= r->ci_high);
}

// Reference 2: R's ?wilcox.test example with ties,
//   wilcox.test(Ozone ~ Month, data = airquality, subset = Month %in% c(5, 8))
// R prints "W = 127.5, p-value = 0.0001208" (with a warning about ties). NAs removed, as R does.
TEST_CASE("mann-whitney: R airquality example with ties, W = 127.5, p = 0.0001208", "[judge]") {
  const std::vector<double> may = {41, 36, 12, 18, 28, 23, 19, 8, 7,  16, 11, 14,  18,
                                   14, 34, 6,  30, 11, 1,  11, 4, 32, 23, 45, 115, 37};
  const std::vector<double> aug = {39, 9,  16, 78, 35, 66, 122, 89,  110, 44, 28,  65, 22,
                                   59, 23, 31, 44, 21, 9,  45,  168, 73,  76, 118, 84, 85};
  auto r = mann_whitney(may, aug, 0.95);
  REQUIRE(r.is_ok());
  CHECK(r->u == Approx(127.5));
  CHECK(r->p_value == Approx(0.0001208).epsilon(1e-3));
  CHECK(r->ci_high < 0);  // August is clearly higher: the shift May - August excludes 0
}

TEST_CASE("mann-whitney: Hodges-Lehmann estimate of a pure shift", "[judge]") {
  std::vector<double> y, x;
  for (int i = 0; i < 30; ++i) {
    y.push_back(100 + (i * 7) % 13);
    x.push_back(100 + (i * 7) % 13 + 20);
  }
  auto r = mann_whitney(x, y, 0.95);
  REQUIRE(r.is_ok());
  CHECK(r->estimate == Approx(20));
  CHECK(r->ci_low > 0);
  CHECK(r->ci_low <= 20);
  CHECK(r->ci_high >= 20);
  CHECK(r->p_value < 1e-6);
  // Same samples: no shift, p = 1 after the continuity correction.
  auto same = mann_whitney(y, y, 0.95);
  REQUIRE(same.is_ok());
  CHECK(same->estimate == Approx(0));
  CHECK(same->ci_low <= 0);
  CHECK(same->ci_high >= 0);
  CHECK(same->p_value > 0.9);
}

TEST_CASE("mann-whitney: degenerate inputs are errors or neutral", "[judge]") {
  CHECK_FALSE(mann_whitney({}, {1, 2}, 0.95).is_ok());
  CHECK_FALSE(mann_whitney({1, 2}, {1, 2}, 1.5).is_ok());
  auto all_tied = mann_whitney({5, 5, 5}, {5, 5}, 0.95);
  REQUIRE(all_tied.is_ok());
  CHECK(all_tied->p_value == 1);
  CHECK(all_tied->estimate == 0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(mann_whitney({nan}, {1}, 0.95).is_ok());
  std::vector<double> big(5000, 1.0);
  CHECK(mann_whitney(big, big, 0.95).is_ok());  // subsampled, bounded memory
}

TEST_CASE("normal quantile inverts the cdf", "[judge]") {
  using sluice::analysis::normal_cdf;
  using sluice::analysis::normal_quantile;
  CHECK(normal_quantile(0.975) == Approx(1.959964).epsilon(1e-6));
  for (double p : {0.001, 0.01, 0.2, 0.5, 0.8, 0.99, 0.999}) {
    CHECK(normal_cdf(normal_quantile(p)) == Approx(p).epsilon(1e-7));
  }
}
