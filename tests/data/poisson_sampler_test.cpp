// SPDX-License-Identifier: Apache-2.0
// Poisson sampling by its measured statistics: batch sizes Binomial(N, q), each example included
// with frequency q, and the edge rates.
#include "dpforge/data/poisson_sampler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace dpforge::data {
namespace {

TEST(PoissonSampler, BatchSizesAndInclusionFrequenciesMatchBinomial) {
  constexpr int64_t kN = 1000, kSteps = 4000;
  constexpr double kQ = 0.05;
  data::PoissonSampler sampler(kN, kQ, 99);
  std::vector<double> sizes;
  std::vector<int64_t> counts(kN, 0);
  for (int64_t step = 0; step < kSteps; ++step) {
    const auto batch = sampler.next();
    for (size_t i = 0; i < batch.size(); ++i) {
      ASSERT_GE(batch[i], 0);
      ASSERT_LT(batch[i], kN);
      if (i > 0) {
        ASSERT_LT(batch[i - 1], batch[i]);
      }  // ascending, distinct
      ++counts[static_cast<size_t>(batch[i])];
    }
    sizes.push_back(static_cast<double>(batch.size()));
  }
  const auto sizes_t = torch::tensor(sizes, torch::kFloat64);
  const double mean = kQ * kN, variance = kQ * kN * (1 - kQ);
  EXPECT_NEAR(sizes_t.mean().item<double>(), mean, 5 * std::sqrt(variance / kSteps));
  EXPECT_NEAR(sizes_t.var().item<double>(), variance, 5 * variance * std::sqrt(2.0 / (kSteps - 1)));
  // Each example's count is Binomial(kSteps, q): mean 200, sd 13.8; all 1000 within 5 sd.
  const double sd = std::sqrt(kSteps * kQ * (1 - kQ));
  for (int64_t count : counts) EXPECT_NEAR(static_cast<double>(count), kSteps * kQ, 5 * sd);
}

TEST(PoissonSampler, EdgeRates) {
  data::PoissonSampler none(50, 0.0, 1);
  EXPECT_TRUE(none.next().empty());
  data::PoissonSampler all(50, 1.0, 1);
  EXPECT_EQ(all.next().size(), 50U);
  data::PoissonSampler tiny(10, 1e-4, 1);
  int empty = 0;
  for (int i = 0; i < 100; ++i) empty += tiny.next().empty();
  EXPECT_GE(empty, 95);
}

}  // namespace
}  // namespace dpforge::data
