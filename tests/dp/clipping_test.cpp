// SPDX-License-Identifier: Apache-2.0
// Clipping: dropped examples and the chunked row norms.
#include "dpforge/dp/clipping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dp/oracle.h"
#include "dpforge/dp/per_sample.h"
#include "dpforge/dp/tape.h"
#include "dpforge/nn/layers.h"
#include "src/dp/device_ops.h"

namespace dpforge::dp {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(Clipping, NonFiniteExampleIsDroppedAndCounted) {
  torch::manual_seed(7);
  torch::nn::Sequential model(nn::Linear(3, 2));
  model->to(torch::kFloat64);
  auto x = torch::randn({4, 3}, torch::kFloat64);
  x[2][1] = std::numeric_limits<double>::quiet_NaN();
  const auto aux = torch::randn({4, 2}, torch::kFloat64);
  EngineRun run;
  run_engine(model, x, aux, probe_loss, run);
  const auto clipped =
      clip_and_sum(run.tape.records(), run.output_grads, ClipOptions().max_grad_norm(1e9));
  EXPECT_EQ(clipped.dropped, 1);
  const auto keep = torch::tensor({0, 1, 3}, torch::kLong);
  auto oracle =
      loop_gradients(model, x.index_select(0, keep), aux.index_select(0, keep), probe_loss);
  expect_close(flat_sums(model, run.tape, clipped), oracle[0] + oracle[1] + oracle[2],
               "sum without NaN example");
}

TEST(Clipping, RowNormsSquaredAFewRowsAtATimeAgreeWithTheWholeBatchInFloat64) {
  torch::manual_seed(8);
  // float32 sums of 4k-70k squares against float64 ones: relative error well below 1e-5.
  constexpr double kFloatSumTolerance = 1e-5;
  // 257 x 4097 and 3 x 70000 are squared in several chunks (256 KiB each), the others at once.
  for (const auto& [b, n] :
       std::vector<std::pair<int64_t, int64_t>>{{257, 4097}, {3, 70000}, {64, 33}, {0, 5}}) {
    const auto rows = torch::randn({b, n});
    const auto norms = ops::reference::row_squared_norms(rows);
    ASSERT_EQ(norms.sizes(), torch::IntArrayRef({b})) << b << "x" << n;
    EXPECT_TRUE(torch::allclose(norms.to(torch::kFloat64), rows.to(torch::kFloat64).square().sum(1),
                                kFloatSumTolerance, 0.0))
        << b << "x" << n;
  }
}

// Norms and clipped sums come from different float32 kernels, so ‖cᵢgᵢ‖ could exceed C by their
// disagreement; kFloat32NormMargin absorbs it. Each example's realized contribution — the engine's
// clipped sum for it alone, in float32, measured in float64 — stays within C(1 + 1e-6), for every
// layer kind and norm method (T = 1, ghost, materialized, convolution loop, norm layers,
// embeddings) and all three clipping modes.
TEST(Clipping, RealizedFloat32ContributionsNeverExceedTheBound) {
  torch::manual_seed(12);
  struct Case {
    const char* what;
    torch::nn::Sequential model;
    torch::Tensor input;
  };
  std::vector<Case> cases;
  cases.push_back(
      {"linear T=1",
       torch::nn::Sequential(nn::Linear(300, 64), torch::nn::Tanh(), nn::Linear(64, 10)),
       torch::randn({8, 300})});
  cases.push_back(
      {"linear ghost", torch::nn::Sequential(nn::Linear(96, 128)), torch::randn({8, 12, 96})});
  cases.push_back(
      {"linear materialized", torch::nn::Sequential(nn::Linear(8, 6)), torch::randn({8, 40, 8})});
  cases.push_back({"conv + group norm",
                   torch::nn::Sequential(nn::Conv2d(nn::Conv2dOptions(3, 16, 3).padding(1)),
                                         nn::GroupNorm(nn::GroupNormOptions(4, 16)),
                                         nn::Conv2d(nn::Conv2dOptions(16, 8, 5).stride(2))),
                   torch::randn({8, 3, 16, 16})});
  cases.push_back({"conv loop (wide)",
                   torch::nn::Sequential(nn::Conv2d(nn::Conv2dOptions(64, 128, 3).padding(1))),
                   torch::randn({4, 64, 14, 14})});
  cases.push_back({"embedding + layer norm",
                   torch::nn::Sequential(nn::Embedding(nn::EmbeddingOptions(50, 32)),
                                         nn::LayerNorm(nn::LayerNormOptions({32}))),
                   torch::randint(50, {8, 20}, torch::kLong)});
  for (auto& [what, model, input] : cases) {
    for (const auto mode : {ClipMode::kFlat, ClipMode::kPerLayer, ClipMode::kAutomatic}) {
      const double bound = 1e-3;  // far below every example's norm: all are clipped
      double worst = 0;
      for (int64_t i = 0; i < input.size(0); ++i) {
        GradTape tape;
        torch::Tensor out;
        {
          TapeGuard guard(tape);
          out = model->forward(input.slice(0, i, i + 1));
        }
        auto layers = per_sample_layers(tape, probe_loss(out, torch::ones_like(out)).sum());
        torch::NoGradGuard no_grad;
        const auto clipped =
            clip_and_sum(std::move(layers), ClipOptions().max_grad_norm(bound).mode(mode));
        double squared = 0;
        for (const auto& sums : clipped.sums) {
          for (const auto& sum : sums)
            squared += sum.to(torch::kFloat64).square().sum().item<double>();
        }
        worst = std::max(worst, std::sqrt(squared) / bound);
      }
      EXPECT_LE(worst, 1 + 1e-6) << what << " mode " << to_string(mode);
      EXPECT_GT(worst, mode == ClipMode::kPerLayer ? 0.3 : 0.99) << what << ": the case must clip";
    }
  }
}

}  // namespace
}  // namespace dpforge::dp
