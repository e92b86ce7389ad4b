// SPDX-License-Identifier: Apache-2.0
// Accountants against published values and independent closed forms. Published values and their
// sources are in docs/design.md, "Sources".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "dpforge/core/error.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/privacy/log_math.h"
#include "dpforge/privacy/pld.h"
#include "dpforge/privacy/rdp.h"
#include "test_util.h"

namespace dpforge::privacy {
namespace {

// Published values are printed to 4-5 significant digits.
constexpr double kPublishedTolerance = 6e-5;

double rdp_epsilon(double q, double sigma, int64_t steps, double delta,
                   RdpConversion conversion = RdpConversion::kImproved,
                   std::vector<double> orders = default_rdp_orders()) {
  RdpAccountant accountant(std::move(orders), conversion);
  accountant.compose(sigma, q, steps);
  return accountant.epsilon(delta);
}

TEST(LogMath, NormalCdfAndQuantileMatchKnownValues) {
  EXPECT_NEAR(normal_cdf(1.96), 0.9750021048517795, 1e-15);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_quantile(1e-10), -6.361340902404056, 1e-9);
  for (double p : {1e-300, 1e-20, 0.001, 0.3, 0.5, 0.9}) {
    EXPECT_NEAR(normal_cdf(normal_quantile(p)) / p, 1.0, 1e-11) << p;
  }
}

TEST(LogMath, LogNdtrIsContinuousAcrossItsTwoBranchesAndExactInTheTail) {
  // At x = −20 both the erfc branch and the asymptotic series are accurate: they must agree.
  const double via_erfc = std::log(0.5 * std::erfc(20.0 / std::sqrt(2.0)));
  EXPECT_NEAR(log_ndtr(-20.0 - 1e-12), via_erfc, 1e-10);
  // Far tail, where Φ underflows: log Φ(x) = −x²/2 − log(−x) − ½log 2π + log(1 − 1/x² + …).
  const double x = -1000;
  EXPECT_NEAR(log_ndtr(x), -0.5 * x * x - std::log(-x) - 0.5 * std::log(2 * M_PI) + std::log1p(-1 / (x * x)), 1e-9);
  EXPECT_NEAR(log_add(std::log(2.0), std::log(3.0)), std::log(5.0), 1e-15);
  EXPECT_NEAR(log_sub(std::log(5.0), std::log(3.0)), std::log(2.0), 1e-15);
  EXPECT_THROW(log_sub(0.0, 1.0), std::domain_error);
}

TEST(Rdp, OrderTwoMatchesItsClosedForm) {
  // A₂ = (1−q)² + 2q(1−q) + q² e^{1/σ²}  ⇒  ε₂ = log(1 + q²(e^{1/σ²} − 1)).
  for (double q : {1e-4, 0.01, 0.3, 0.9}) {
    for (double sigma : {0.5, 1.0, 4.0}) {
      EXPECT_NEAR(rdp_sampled_gaussian(q, sigma, 2.0),
                  std::log1p(q * q * std::expm1(1 / (sigma * sigma))), 1e-14);
    }
  }
}

TEST(Rdp, FullBatchIsTheGaussianMechanism) {
  EXPECT_DOUBLE_EQ(rdp_sampled_gaussian(1.0, 2.0, 10.0), 10.0 / 8.0);
  EXPECT_DOUBLE_EQ(rdp_sampled_gaussian(1.0, 2.0, 2.5), 2.5 / 8.0);
  EXPECT_EQ(rdp_sampled_gaussian(0.0, 1.0, 5.0), 0.0);
}

TEST(Rdp, FractionalOrdersAreContinuousWithIntegerOnes) {
  // The fractional series and the integer binomial sum are different formulas for one function.
  for (double q : {0.001, 0.01, 0.1}) {
    for (double sigma : {0.8, 1.5, 5.0}) {
      for (double alpha : {2.0, 5.0, 11.0, 32.0}) {
        const double integer = rdp_sampled_gaussian(q, sigma, alpha);
        const double near = rdp_sampled_gaussian(q, sigma, alpha + 1e-7);
        EXPECT_NEAR(near / integer, 1.0, 1e-5) << "q=" << q << " sigma=" << sigma << " alpha=" << alpha;
      }
    }
  }
}

TEST(Rdp, OpacusGoldenValue) {
  // opacus/tests/accountants_test.py: σ=1.5, q=0.04, 2250 steps, δ=1e-5 → ε = 7.32911117143.
  EXPECT_NEAR(rdp_epsilon(0.04, 1.5, 2250, 1e-5, RdpConversion::kImproved, opacus_rdp_orders()),
              7.32911117143, 1e-9);
}

struct PublishedRow {
  const char* what;
  double q, sigma;
  int64_t steps;
  double improved, classic;
};

TEST(Rdp, PublishedValuesUnderBothConversions) {
  // docs/design.md, "Published values" (RDP and classic columns; Opacus README).
  const PublishedRow rows[] = {
      {"MNIST 60 epochs", 256.0 / 60000, 1.1, 14062, 2.5966, 3.0083},
      {"TF-Privacy tutorial", 256.0 / 60000, 1.12, 14040, 2.5165, 2.9199},
      {"Abadi et al. 2016 §3.1", 0.01, 4.0, 10000, 1.0355, 1.2586},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.what);
    EXPECT_NEAR(rdp_epsilon(row.q, row.sigma, row.steps, 1e-5, RdpConversion::kImproved, opacus_rdp_orders()),
                row.improved, kPublishedTolerance * row.improved);
    EXPECT_NEAR(rdp_epsilon(row.q, row.sigma, row.steps, 1e-5, RdpConversion::kClassic, opacus_rdp_orders()),
                row.classic, kPublishedTolerance * row.classic);
  }
  // Opacus MNIST README (classic conversion, 2-digit published values).
  EXPECT_NEAR(rdp_epsilon(240.0 / 60000, 1.3, 3750, 1e-5, RdpConversion::kClassic, opacus_rdp_orders()), 1.16, 0.005);
  EXPECT_NEAR(rdp_epsilon(240.0 / 60000, 1.1, 15000, 1e-5, RdpConversion::kClassic, opacus_rdp_orders()), 2.91, 0.005);
  EXPECT_NEAR(rdp_epsilon(240.0 / 60000, 0.7, 11250, 1e-5, RdpConversion::kClassic, opacus_rdp_orders()), 6.86, 0.005);
}

TEST(Rdp, OptimalOrderIsReported) {
  RdpAccountant accountant(opacus_rdp_orders());
  accountant.compose(1.1, 256.0 / 60000, 14062);
  EXPECT_DOUBLE_EQ(accountant.epsilon_and_order(1e-5).order, 8.1);
}

TEST(Rdp, StableForTinyRatesHugeNoiseAndManySteps) {
  const double tiny = rdp_epsilon(1e-6, 1.0, 1'000'000, 1e-5);
  EXPECT_TRUE(std::isfinite(tiny));
  EXPECT_GT(tiny, 0);
  const double quiet = rdp_epsilon(0.01, 1000.0, 100, 1e-5);
  EXPECT_TRUE(std::isfinite(quiet));
  EXPECT_LT(quiet, 0.01);
  EXPECT_TRUE(std::isfinite(rdp_epsilon(0.5, 0.5, 1'000'000, 1e-8)));
}

TEST(Rdp, MonotoneInStepsAndRateAntitoneInNoise) {
  double previous = 0;
  for (int64_t steps : {1, 10, 100, 1000, 10000}) {
    const double epsilon = rdp_epsilon(0.01, 1.0, steps, 1e-5);
    EXPECT_GT(epsilon, previous);
    previous = epsilon;
  }
  EXPECT_LT(rdp_epsilon(0.01, 1.0, 1000, 1e-5), rdp_epsilon(0.02, 1.0, 1000, 1e-5));
  EXPECT_GT(rdp_epsilon(0.01, 1.0, 1000, 1e-5), rdp_epsilon(0.01, 1.2, 1000, 1e-5));
}

TEST(Rdp, HeterogeneousCompositionAddsCurves) {
  RdpAccountant mixed;
  mixed.compose(1.0, 0.01, 100);
  mixed.compose(2.0, 0.05, 50);
  mixed.compose(2.0, 0.05, 50);  // merged with the previous entry
  EXPECT_EQ(mixed.history().size(), 2U);
  EXPECT_EQ(mixed.steps(), 200);
  const auto orders = default_rdp_orders();
  const auto curve = mixed.rdp_curve();
  for (size_t i = 0; i < orders.size(); i += 17) {
    EXPECT_NEAR(curve[i], 100 * rdp_sampled_gaussian(0.01, 1.0, orders[i]) +
                              100 * rdp_sampled_gaussian(0.05, 2.0, orders[i]), 1e-12 * curve[i]);
  }
}

TEST(Rdp, DeltaAndEpsilonConversionsAreInverse) {
  RdpAccountant accountant;
  accountant.compose(1.1, 0.004, 10000);
  const double epsilon = accountant.epsilon(1e-5);
  const double delta = rdp_to_delta(accountant.orders(), accountant.rdp_curve(), epsilon);
  EXPECT_LE(delta, 1e-5 * (1 + 1e-9));
  EXPECT_GT(delta, 0.5e-5);  // same order grid, so the optimal order nearly attains δ
}

TEST(Accountant, JsonRoundTripAndUnknownName) {
  RdpAccountant accountant;
  accountant.compose(1.3, 0.004, 1000);
  accountant.compose(0.9, 0.01, 7);
  const auto restored = Accountant::from_json(nlohmann::json::parse(accountant.to_json().dump()));
  EXPECT_EQ(restored->history(), accountant.history());
  EXPECT_DOUBLE_EQ(restored->epsilon(1e-6), accountant.epsilon(1e-6));
  EXPECT_THAT([] { make_accountant("gdp"); },
              ::testing::ThrowsMessage<std::invalid_argument>(::testing::HasSubstr("allowed: rdp, pld")));
}

TEST(Calibration, NoiseRoundTripsThroughBudgetAndIsOnThePrivateSide) {
  for (double target : {0.5, 1.0, 3.0, 8.0}) {
    const double sigma = calibrate_noise_multiplier(AccountantKind::kRdp, target, 1e-5, 256.0 / 60000, 7031);
    const double reached = epsilon_for(AccountantKind::kRdp, sigma, 256.0 / 60000, 7031, 1e-5);
    EXPECT_LE(reached, target);
    EXPECT_GT(epsilon_for(AccountantKind::kRdp, sigma * (1 - 2 * kNoiseCalibrationTolerance), 256.0 / 60000, 7031, 1e-5), target);
  }
  // docs/design.md, "Published values": ε=3, δ=1e-5, 30 epochs at batch 256 of 60k → RDP root σ = 0.8570.
  EXPECT_NEAR(calibrate_noise_multiplier(AccountantKind::kRdp, 3.0, 1e-5, 256.0 / 60000, 7032), 0.8570, 5e-4);
  EXPECT_THROW(calibrate_noise_multiplier(AccountantKind::kRdp, 1e-9, 1e-12, 1.0, 1000000), std::domain_error);
}

TEST(Calibration, MaxStepsIsTheLastStepWithinBudget) {
  const int64_t steps = max_steps_within(AccountantKind::kRdp, 2.0, 1e-5, 0.01, 1.0);
  EXPECT_LE(epsilon_for(AccountantKind::kRdp, 1.0, 0.01, steps, 1e-5), 2.0);
  EXPECT_GT(epsilon_for(AccountantKind::kRdp, 1.0, 0.01, steps + 1, 1e-5), 2.0);
  EXPECT_EQ(max_steps_within(AccountantKind::kRdp, 1e-6, 1e-5, 0.5, 0.5), 0);
}

TEST(BudgetCli, PrintsJsonAndRejectsBadRanges) {
  const std::string cli = DPFORGE_CLI;
  auto result = testing::run_command(cli + " budget --sample-rate 0.04 --noise-multiplier 1.5 --steps 2250 --delta 1e-5 --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  EXPECT_NEAR(json["epsilon"]["rdp"]["epsilon"].get<double>(), 7.3291, 1e-3);

  result = testing::run_command(cli + " budget --sample-rate 1.5 --noise-multiplier 1 --steps 10 --delta 1e-5");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, ::testing::HasSubstr("allowed (0, 1]"));
  result = testing::run_command(cli + " budget --sample-rate 0.1 --noise-multiplier 0 --steps 10 --delta 1e-5");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  result = testing::run_command(cli + " budget --sample-rate 0.1 --noise-multiplier 1 --steps 0 --delta 1e-5");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  result = testing::run_command(cli + " budget --sample-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, ::testing::HasSubstr("allowed (0, 1)"));
  result = testing::run_command(cli + " budget --sample-rate 0.01 --noise-multiplier 1 --epochs 2 --dataset-size 1000 --delta 1e-2");
  EXPECT_EQ(result.exit_code, kExitOk);
  EXPECT_THAT(result.output, ::testing::AllOf(::testing::HasSubstr("steps = 200"), ::testing::HasSubstr("warning")));
}

TEST(BudgetCli, CalibrateInvertsBudget) {
  const std::string cli = DPFORGE_CLI;
  const auto result = testing::run_command(cli + " calibrate --target-epsilon 3 --delta 1e-5 --sample-rate 0.0042666666666666667 --steps 7032 --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  EXPECT_NEAR(json["noise_multiplier"]["rdp"]["noise_multiplier"].get<double>(), 0.8570, 5e-4);
  EXPECT_LE(json["noise_multiplier"]["rdp"]["epsilon"].get<double>(), 3.0);
}

}  // namespace
}  // namespace dpforge::privacy

namespace dpforge::privacy {
namespace {

// dp_accounting's PLD values are printed to 4-5 digits; ours is a certified upper bound on the
// same quantity, so it may exceed them by the discretization slack only.
constexpr double kPldTolerance = 2e-4;
constexpr double kCoarseGridPldTolerance = 1e-3;

double pld_epsilon(double q, double sigma, int64_t steps, double delta) {
  PldAccountant accountant;
  accountant.compose(sigma, q, steps);
  return accountant.epsilon(delta);
}

// Exact δ(ε) of the Gaussian mechanism with sensitivity 1 and noise s (Balle & Wang 2018, Eq. 6),
// Φ(μ/2 − ε/μ) − e^ε Φ(−μ/2 − ε/μ) with μ = 1/s, in logs so that tiny s (ε in the millions) works.
double analytic_gaussian_delta(double s, double epsilon) {
  const double mu = 1 / s;
  const double log_a = log_ndtr(mu / 2 - epsilon / mu), log_b = epsilon + log_ndtr(-mu / 2 - epsilon / mu);
  return log_b >= log_a ? 0.0 : std::exp(log_a) * -std::expm1(log_b - log_a);
}

// Smallest ε with δ(ε) ≤ delta for a decreasing δ(·), by doubling then bisection.
template <typename DeltaOf>
double invert_delta(DeltaOf delta_of, double delta) {
  double low = 0, high = 1;
  while (delta_of(high) > delta) high *= 2;
  for (int i = 0; i < 200; ++i) {
    const double middle = 0.5 * (low + high);
    (delta_of(middle) > delta ? low : high) = middle;
  }
  return high;
}

double analytic_gaussian_epsilon(double s, double delta) {
  return invert_delta([s](double epsilon) { return analytic_gaussian_delta(s, epsilon); }, delta);
}

// An independent exact δ(ε) for the remove direction at tiny σ (σ ≤ 0.02), where the loss of a
// step that did not sample the example is log(1 − q) and that of one that did is
// log q + (2x − 1)/(2σ²), x ~ N(1, σ²), both to double precision. With k of T steps sampled
// (Binomial(T, q)) the total loss is then exactly N(m_k, s_k²), m_k = k(log q + 1/(2σ²)) +
// (T − k) log(1 − q), s_k = √k/σ, and E[(1 − e^{ε−S})₊] = Φ((m−ε)/s) − e^{ε−m+s²/2} Φ((m−ε)/s − s).
double tiny_noise_delta(double q, double sigma, int64_t steps, double epsilon) {
  double delta = 0;
  for (int64_t k = 0; k <= steps; ++k) {
    const double kd = static_cast<double>(k), rest = static_cast<double>(steps - k);
    const double log_pk = std::lgamma(static_cast<double>(steps) + 1) - std::lgamma(kd + 1) -
                          std::lgamma(rest + 1) + kd * std::log(q) + rest * std::log1p(-q);
    const double m = kd * (std::log(q) + 1 / (2 * sigma * sigma)) + rest * std::log1p(-q);
    if (k == 0) {
      delta += std::exp(log_pk) * std::max(0.0, -std::expm1(epsilon - m));
      continue;
    }
    const double s = std::sqrt(kd) / sigma, z = (m - epsilon) / s;
    const double log_a = log_ndtr(z), log_b = epsilon - m + s * s / 2 + log_ndtr(z - s);
    if (log_b < log_a) delta += std::exp(log_pk + log_a) * -std::expm1(log_b - log_a);
  }
  return delta;
}

// ∫ (p(x) − e^ε q(x))₊ dx by the midpoint rule on a fine grid: an independent δ(ε).
double integrated_delta(double q, double sigma, double epsilon, PldDirection direction) {
  auto phi = [&](double x, double mean) {
    return std::exp(-0.5 * (x - mean) * (x - mean) / (sigma * sigma)) / (sigma * std::sqrt(2 * M_PI));
  };
  const double step = sigma * 2e-5;
  double total = 0;
  for (double x = -14 * sigma; x < 1 + 14 * sigma; x += step) {
    const double mid = x + 0.5 * step;
    const double with = (1 - q) * phi(mid, 0) + q * phi(mid, 1), without = phi(mid, 0);
    const double p = direction == PldDirection::kRemove ? with : without;
    const double r = direction == PldDirection::kRemove ? without : with;
    total += std::max(0.0, p - std::exp(epsilon) * r) * step;
  }
  return total;
}

TEST(Pld, SingleStepDeltaMatchesNumericalIntegration) {
  for (auto direction : {PldDirection::kRemove, PldDirection::kAdd}) {
    for (double q : {0.01, 0.3, 1.0}) {
      for (double epsilon : {0.01, 0.3, 1.0}) {
        const double expected = integrated_delta(q, 0.8, epsilon, direction);
        EXPECT_NEAR(sampled_gaussian_delta(q, 0.8, epsilon, direction), expected, 1e-9 + 1e-7 * expected)
            << "q=" << q << " eps=" << epsilon;
      }
    }
  }
}

TEST(Pld, DiscretizationDominatesTheTrueCurveAndStaysClose) {
  for (auto direction : {PldDirection::kRemove, PldDirection::kAdd}) {
    const auto pld = sampled_gaussian_pld(0.05, 1.0, direction, 1e-3, 1e-15);
    double mass = pld.infinity_mass;
    for (double p : pld.pmf) mass += p;
    EXPECT_NEAR(mass, 1.0, 1e-9);
    for (double epsilon = -0.5; epsilon < 3; epsilon += 0.0371) {
      const double truth = sampled_gaussian_delta(0.05, 1.0, epsilon, direction);
      const double discrete = pld.delta_for_epsilon(epsilon);
      EXPECT_GE(discrete, truth - 1e-12) << epsilon;
      EXPECT_LE(discrete - truth, 1e-3 * truth + 1e-12) << epsilon;
    }
  }
}

TEST(Pld, FullBatchComposesToTheAnalyticGaussian) {
  // T Gaussian steps of noise σ compose exactly to one with noise σ/√T.
  for (auto [sigma, steps] : {std::pair<double, int64_t>{5.0, 1}, {2.0, 10}, {10.0, 1000},
                              {0.01, 1}, {0.001, 1}, {1.0, 10000000}, {0.05, 100}}) {
    const double exact = analytic_gaussian_epsilon(sigma / std::sqrt(static_cast<double>(steps)), 1e-5);
    const double ours = pld_epsilon(1.0, sigma, steps, 1e-5);
    EXPECT_GE(ours, exact - 1e-9);
    // Past ε ≈ 1e4 the grid coarsens to fit 2^20 points; the bound stays an upper one and its
    // slack, relative to ε in the millions, stays below 0.1%.
    const double tolerance = exact > 1e4 ? kCoarseGridPldTolerance : kPldTolerance;
    EXPECT_NEAR(ours, exact, tolerance * exact) << sigma << " " << steps;
  }
}

TEST(Pld, TinyNoiseMatchesTheExactBinomialMixture) {
  // At σ = 0.01 the losses run to ~5000 per step; exp() of them overflowed and the lost terms
  // made `budget` print ε = 0.1009 here (issue 17, item 0). dp_accounting's PLD says ≈15239.8.
  for (auto [q, sigma, steps] : {std::tuple<double, double, int64_t>{0.01, 0.01, 10},
                                 {0.01, 0.02, 10}, {0.001, 0.01, 100}, {0.1, 0.015, 3}}) {
    const double exact = invert_delta(
        [&](double epsilon) { return tiny_noise_delta(q, sigma, steps, epsilon); }, 1e-5);
    const double ours = pld_epsilon(q, sigma, steps, 1e-5);
    EXPECT_GE(ours, exact * (1 - 1e-9)) << q << " " << sigma << " " << steps;
    EXPECT_LE(ours, exact * (1 + 1e-4)) << q << " " << sigma << " " << steps;
  }
}

TEST(Pld, SingleStepFloorIsTheExactSingleStepEpsilon) {
  EXPECT_NEAR(sampled_gaussian_epsilon(1.0, 0.8, 1e-5), analytic_gaussian_epsilon(0.8, 1e-5), 1e-9);
  const double exact = invert_delta(
      [](double epsilon) { return tiny_noise_delta(0.01, 0.01, 1, epsilon); }, 1e-5);
  EXPECT_NEAR(sampled_gaussian_epsilon(0.01, 0.01, 1e-5), exact, 1e-9 * exact);
  EXPECT_EQ(sampled_gaussian_epsilon(1e-6, 1.0, 1e-5), 0.0);  // δ(0) = q·… ≤ 1e-5 already
}

TEST(Pld, PublishedDpAccountingValues) {
  // docs/design.md, "Published values", PLD column (add/remove, δ = 1e-5).
  EXPECT_NEAR(pld_epsilon(256.0 / 60000, 1.1, 14062, 1e-5), 2.3817, kPldTolerance * 2.3817 + 5e-5);
  EXPECT_NEAR(pld_epsilon(256.0 / 60000, 1.12, 14040, 1e-5), 2.3082, kPldTolerance * 2.3082 + 5e-5);
  EXPECT_NEAR(pld_epsilon(0.01, 4.0, 10000, 1e-5), 0.9470, kPldTolerance * 0.9470 + 5e-5);
}

TEST(Pld, TighterThanRdpAndConsistentInverses) {
  for (auto [q, sigma, steps] : {std::tuple<double, double, int64_t>{0.004, 1.0, 5000}, {0.05, 2.0, 500}, {0.01, 1.0, 1}}) {
    const double pld = pld_epsilon(q, sigma, steps, 1e-6);
    const double rdp = rdp_epsilon(q, sigma, steps, 1e-6);
    EXPECT_LT(pld, rdp) << q << " " << sigma << " " << steps;
    PldAccountant accountant;
    accountant.compose(sigma, q, steps);
    EXPECT_LE(accountant.delta(pld), 1e-6 * (1 + 1e-9));
    EXPECT_GT(accountant.delta(pld * 0.99), 1e-6);
  }
}

TEST(Pld, HeterogeneousStepsAndJsonRoundTrip) {
  PldAccountant accountant;
  accountant.compose(1.0, 0.01, 300);
  accountant.compose(2.0, 0.02, 200);
  const double mixed = accountant.epsilon(1e-5);
  EXPECT_GT(mixed, pld_epsilon(0.01, 1.0, 300, 1e-5));
  EXPECT_LT(mixed, pld_epsilon(0.01, 1.0, 300, 1e-5) + pld_epsilon(0.02, 2.0, 200, 1e-5));
  const auto restored = Accountant::from_json(accountant.to_json());
  EXPECT_EQ(restored->name(), "pld");
  EXPECT_DOUBLE_EQ(restored->epsilon(1e-5), mixed);
}

TEST(Pld, CalibrationWithPldNeedsLessNoise) {
  // docs/design.md, "Published values": ε=3, δ=1e-5, 30 epochs at batch 256 of 60k → PLD σ = 0.8176 (RDP 0.8570).
  const double sigma = calibrate_noise_multiplier(AccountantKind::kPld, 3.0, 1e-5, 256.0 / 60000, 7032);
  EXPECT_NEAR(sigma, 0.8176, 2e-3);
  EXPECT_LE(epsilon_for(AccountantKind::kPld, sigma, 256.0 / 60000, 7032, 1e-5), 3.0);
}

// ε over a grid of (σ, q, T), each axis sorted ascending.
struct EpsilonGrid {
  std::vector<double> sigmas, rates;
  std::vector<int64_t> steps;
  std::vector<double> epsilon;  // [σ][q][T], row-major
  double at(size_t s, size_t r, size_t t) const {
    return epsilon[(s * rates.size() + r) * steps.size() + t];
  }
};

EpsilonGrid pld_grid(std::vector<double> sigmas, std::vector<double> rates, std::vector<int64_t> steps) {
  EpsilonGrid grid{std::move(sigmas), std::move(rates), std::move(steps), {}};
  for (double sigma : grid.sigmas) {
    for (double q : grid.rates) {
      for (int64_t t : grid.steps) grid.epsilon.push_back(pld_epsilon(q, sigma, t, 1e-5));
    }
  }
  return grid;
}

// Grids move with the loss range (a coarser interval for wider ranges), so neighbours are compared
// with the slack a grid change can cause, far below any bug of the kind this guards against.
bool at_most(double a, double b) { return a <= b * (1 + 1e-6) + 1e-9; }

void expect_accountant_properties(const EpsilonGrid& grid) {
  const size_t ns = grid.sigmas.size(), nr = grid.rates.size(), nt = grid.steps.size();
  for (size_t s = 0; s < ns; ++s) {
    for (size_t r = 0; r < nr; ++r) {
      for (size_t t = 0; t < nt; ++t) {
        const double epsilon = grid.at(s, r, t);
        const std::string where = "sigma=" + std::to_string(grid.sigmas[s]) + " q=" +
                                  std::to_string(grid.rates[r]) + " T=" + std::to_string(grid.steps[t]);
        EXPECT_FALSE(std::isnan(epsilon)) << where;
        EXPECT_TRUE(at_most(sampled_gaussian_epsilon(grid.rates[r], grid.sigmas[s], 1e-5), epsilon))
            << "below the single-step epsilon: " << where;
        if (s + 1 < ns) {
          EXPECT_TRUE(at_most(grid.at(s + 1, r, t), epsilon)) << "more noise, more epsilon: " << where;
        }
        if (r + 1 < nr) {
          EXPECT_TRUE(at_most(epsilon, grid.at(s, r + 1, t))) << "higher rate, less epsilon: " << where;
        }
        if (t + 1 < nt) {
          EXPECT_TRUE(at_most(epsilon, grid.at(s, r, t + 1))) << "more steps, less epsilon: " << where;
        }
      }
    }
  }
}

TEST(PldProperties, MonotoneAndNeverBelowOneStepOnACoarseWideGrid) {
  expect_accountant_properties(pld_grid({1e-3, 0.1, 1.0, 10.0, 1e3}, {1e-6, 1e-2, 1.0},
                                        {1, 1000, 10000000}));
}

// The full grid (σ 1e-3..1e3, q 1e-6..1, T 1..1e7); minutes, so labelled long.
TEST(PldProperties, MonotoneAndNeverBelowOneStepOnTheFullGrid_LONG) {
  expect_accountant_properties(pld_grid({1e-3, 1e-2, 0.05, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 1e3},
                                        {1e-6, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.3, 0.5, 1.0},
                                        {1, 2, 10, 100, 1000, 10000, 100000, 1000000, 10000000}));
}

TEST(Accountants, ANonFiniteTermIsAnErrorNeverADroppedOne) {
  const std::vector<double> orders{2.0, 3.0};
  const std::vector<double> curve{std::nan(""), 1.0};
  EXPECT_THROW(rdp_to_epsilon(orders, curve, 1e-5), std::logic_error);
}

TEST(BudgetCli, TinyNoiseIsNeverReportedAsPrivate) {
  const std::string cli = DPFORGE_CLI;
  auto result = testing::run_command(cli + " budget --sample-rate 0.01 --noise-multiplier 0.01 --steps 10 --delta 1e-5 --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  auto json = nlohmann::json::parse(result.output);
  EXPECT_GT(json["epsilon"]["pld"]["epsilon"].get<double>(), 15238.79);
  EXPECT_LT(json["epsilon"]["pld"]["epsilon"].get<double>(), 15240.0);
  result = testing::run_command(cli + " calibrate --target-epsilon 1000 --sample-rate 0.01 --steps 10 --delta 1e-5 --accountant pld --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  json = nlohmann::json::parse(result.output);
  const double sigma = json["noise_multiplier"]["pld"]["noise_multiplier"].get<double>();
  EXPECT_LE(json["noise_multiplier"]["pld"]["epsilon"].get<double>(), 1000.0);
  EXPECT_GT(json["noise_multiplier"]["pld"]["epsilon"].get<double>(), 990.0);
  EXPECT_NEAR(epsilon_for(AccountantKind::kPld, sigma, 0.01, 10, 1e-5), json["noise_multiplier"]["pld"]["epsilon"].get<double>(), 1e-6);
}

}  // namespace
}  // namespace dpforge::privacy
