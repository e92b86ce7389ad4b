// SPDX-License-Identifier: Apache-2.0
// RDP, calibration and log-space math against published values and closed forms (sources:
// docs/design.md, "Sources").
#include "dpforge/privacy/rdp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "dpforge/core/error.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/privacy/log_math.h"
#include "dpforge/privacy/pld.h"
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
  EXPECT_NEAR(log_ndtr(x),
              -0.5 * x * x - std::log(-x) - 0.5 * std::log(2 * M_PI) + std::log1p(-1 / (x * x)),
              1e-9);
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
        EXPECT_NEAR(near / integer, 1.0, 1e-5)
            << "q=" << q << " sigma=" << sigma << " alpha=" << alpha;
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
    EXPECT_NEAR(rdp_epsilon(row.q, row.sigma, row.steps, 1e-5, RdpConversion::kImproved,
                            opacus_rdp_orders()),
                row.improved, kPublishedTolerance * row.improved);
    EXPECT_NEAR(rdp_epsilon(row.q, row.sigma, row.steps, 1e-5, RdpConversion::kClassic,
                            opacus_rdp_orders()),
                row.classic, kPublishedTolerance * row.classic);
  }
  // Opacus MNIST README (classic conversion, 2-digit published values).
  EXPECT_NEAR(
      rdp_epsilon(240.0 / 60000, 1.3, 3750, 1e-5, RdpConversion::kClassic, opacus_rdp_orders()),
      1.16, 0.005);
  EXPECT_NEAR(
      rdp_epsilon(240.0 / 60000, 1.1, 15000, 1e-5, RdpConversion::kClassic, opacus_rdp_orders()),
      2.91, 0.005);
  EXPECT_NEAR(
      rdp_epsilon(240.0 / 60000, 0.7, 11250, 1e-5, RdpConversion::kClassic, opacus_rdp_orders()),
      6.86, 0.005);
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
    EXPECT_NEAR(curve[i],
                100 * rdp_sampled_gaussian(0.01, 1.0, orders[i]) +
                    100 * rdp_sampled_gaussian(0.05, 2.0, orders[i]),
                1e-12 * curve[i]);
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

// Accountant::delta under both conversions gives back the δ its ε was computed at.
TEST(Rdp, AccountantDeltaInvertsEpsilonUnderBothConversions) {
  for (const auto conversion : {RdpConversion::kImproved, RdpConversion::kClassic}) {
    RdpAccountant accountant(default_rdp_orders(), conversion);
    EXPECT_EQ(accountant.delta(1.0), 0.0);
    accountant.compose(1.1, 0.004, 10000);
    const double epsilon = accountant.epsilon(1e-5);
    const double delta = accountant.delta(epsilon);
    EXPECT_LE(delta, 1e-5 * (1 + 1e-9)) << to_string(conversion);
    EXPECT_GT(delta, 0.5e-5) << to_string(conversion);
    EXPECT_GT(accountant.delta(epsilon / 2), delta);  // δ falls as ε grows
  }
}

TEST(Accountant, JsonRoundTripAndUnknownName) {
  RdpAccountant accountant;
  accountant.compose(1.3, 0.004, 1000);
  accountant.compose(0.9, 0.01, 7);
  const auto restored = Accountant::from_json(nlohmann::json::parse(accountant.to_json().dump()));
  EXPECT_EQ(restored->history(), accountant.history());
  EXPECT_DOUBLE_EQ(restored->epsilon(1e-6), accountant.epsilon(1e-6));
  EXPECT_THAT([] { make_accountant("gdp"); }, ::testing::ThrowsMessage<std::invalid_argument>(
                                                  ::testing::HasSubstr("allowed: rdp, pld")));
}

TEST(Calibration, NoiseRoundTripsThroughBudgetAndIsOnThePrivateSide) {
  for (double target : {0.5, 1.0, 3.0, 8.0}) {
    const double sigma =
        calibrate_noise_multiplier(AccountantKind::kRdp, target, 1e-5, 256.0 / 60000, 7031);
    const double reached = epsilon_for(AccountantKind::kRdp, sigma, 256.0 / 60000, 7031, 1e-5);
    EXPECT_LE(reached, target);
    EXPECT_GT(epsilon_for(AccountantKind::kRdp, sigma * (1 - 2 * kNoiseCalibrationTolerance),
                          256.0 / 60000, 7031, 1e-5),
              target);
  }
  // docs/design.md, "Published values": ε=3, δ=1e-5, 30 epochs at batch 256 of 60k → RDP root σ =
  // 0.8570.
  EXPECT_NEAR(calibrate_noise_multiplier(AccountantKind::kRdp, 3.0, 1e-5, 256.0 / 60000, 7032),
              0.8570, 5e-4);
  EXPECT_THROW(calibrate_noise_multiplier(AccountantKind::kRdp, 1e-9, 1e-12, 1.0, 1000000),
               std::domain_error);
}

TEST(Calibration, MaxStepsIsTheLastStepWithinBudget) {
  const int64_t steps = max_steps_within(AccountantKind::kRdp, 2.0, 1e-5, 0.01, 1.0);
  EXPECT_LE(epsilon_for(AccountantKind::kRdp, 1.0, 0.01, steps, 1e-5), 2.0);
  EXPECT_GT(epsilon_for(AccountantKind::kRdp, 1.0, 0.01, steps + 1, 1e-5), 2.0);
  EXPECT_EQ(max_steps_within(AccountantKind::kRdp, 1e-6, 1e-5, 0.5, 0.5), 0);
}
}  // namespace
}  // namespace dpforge::privacy
