// SPDX-License-Identifier: Apache-2.0
// `dpforge budget` and `dpforge calibrate`: what a user types, what they get back.
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

TEST(BudgetCli, PrintsJsonAndRejectsBadRanges) {
  const std::string cli = DPFORGE_CLI;
  auto result = testing::run_command(
      cli + " budget --sample-rate 0.04 --noise-multiplier 1.5 --steps 2250 --delta 1e-5 --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  EXPECT_NEAR(json["epsilon"]["rdp"]["epsilon"].get<double>(), 7.3291, 1e-3);

  result = testing::run_command(
      cli + " budget --sample-rate 1.5 --noise-multiplier 1 --steps 10 --delta 1e-5");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, ::testing::HasSubstr("allowed (0, 1]"));
  result = testing::run_command(
      cli + " budget --sample-rate 0.1 --noise-multiplier 0 --steps 10 --delta 1e-5");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  result = testing::run_command(
      cli + " budget --sample-rate 0.1 --noise-multiplier 1 --steps 0 --delta 1e-5");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  result = testing::run_command(
      cli + " budget --sample-rate 0.1 --noise-multiplier 1 --steps 10 --delta 1");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, ::testing::HasSubstr("allowed (0, 1)"));
  result = testing::run_command(cli +
                                " budget --sample-rate 0.01 --noise-multiplier 1 --epochs 2 "
                                "--dataset-size 1000 --delta 1e-2");
  EXPECT_EQ(result.exit_code, kExitOk);
  EXPECT_THAT(result.output, ::testing::AllOf(::testing::HasSubstr("steps = 200"),
                                              ::testing::HasSubstr("warning")));
}

TEST(BudgetCli, CalibrateInvertsBudget) {
  const std::string cli = DPFORGE_CLI;
  const auto result =
      testing::run_command(cli +
                           " calibrate --target-epsilon 3 --delta 1e-5 --sample-rate "
                           "0.0042666666666666667 --steps 7032 --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  EXPECT_NEAR(json["noise_multiplier"]["rdp"]["noise_multiplier"].get<double>(), 0.8570, 5e-4);
  EXPECT_LE(json["noise_multiplier"]["rdp"]["epsilon"].get<double>(), 3.0);
}

TEST(BudgetCli, TinyNoiseIsNeverReportedAsPrivate) {
  const std::string cli = DPFORGE_CLI;
  auto result = testing::run_command(
      cli + " budget --sample-rate 0.01 --noise-multiplier 0.01 --steps 10 --delta 1e-5 --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  auto json = nlohmann::json::parse(result.output);
  EXPECT_GT(json["epsilon"]["pld"]["epsilon"].get<double>(), 15238.79);
  EXPECT_LT(json["epsilon"]["pld"]["epsilon"].get<double>(), 15240.0);
  result = testing::run_command(cli +
                                " calibrate --target-epsilon 1000 --sample-rate 0.01 --steps 10 "
                                "--delta 1e-5 --accountant pld --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  json = nlohmann::json::parse(result.output);
  const double sigma = json["noise_multiplier"]["pld"]["noise_multiplier"].get<double>();
  EXPECT_LE(json["noise_multiplier"]["pld"]["epsilon"].get<double>(), 1000.0);
  EXPECT_GT(json["noise_multiplier"]["pld"]["epsilon"].get<double>(), 990.0);
  EXPECT_NEAR(epsilon_for(AccountantKind::kPld, sigma, 0.01, 10, 1e-5),
              json["noise_multiplier"]["pld"]["epsilon"].get<double>(), 1e-6);
}
}  // namespace
}  // namespace dpforge::privacy
