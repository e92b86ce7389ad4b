// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/models.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dpforge/nn/layers.h"

namespace dpforge::nn {
namespace {

nn::ModelOptions arch(const std::string& name) {
  nn::ModelOptions options;
  options.arch(*nn::kArchNames.parse(name));
  return options;
}

TEST(Models, CnnTanhHasTheTramerBonehShapeAnd26010Parameters) {
  auto model = make_model(arch("cnn_tanh"));
  EXPECT_EQ(count_parameters(*model), 26010);
  EXPECT_EQ(model->forward(torch::zeros({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));
}

TEST(Models, MlpAndWrnProduceLogits) {
  auto mlp = make_model(arch("mlp").mlp_hidden(64));
  EXPECT_EQ(count_parameters(*mlp), 784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10);
  EXPECT_EQ(mlp->forward(torch::zeros({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
  auto wrn = make_model(arch("wrn16_4"));
  EXPECT_EQ(wrn->forward(torch::zeros({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_GT(count_parameters(*wrn), 2'000'000);
}

// Outside a DP step our layers must be exactly their torch::nn counterparts.
TEST(Layers, MatchTorchModulesInOutputAndGradient) {
  torch::manual_seed(0);
  {
    Linear ours(5, 3);
    torch::nn::Linear theirs(5, 3);
    theirs->weight.data().copy_(ours->weight);
    theirs->bias.data().copy_(ours->bias);
    const auto x = torch::randn({4, 7, 5});
    EXPECT_TRUE(torch::allclose(ours->forward(x), theirs->forward(x)));
  }
  {
    Conv2d ours(Conv2dOptions(2, 4, 3).stride(2).padding(1).dilation(2));
    torch::nn::Conv2d theirs(torch::nn::Conv2dOptions(2, 4, 3).stride(2).padding(1).dilation(2));
    theirs->weight.data().copy_(ours->weight);
    theirs->bias.data().copy_(ours->bias);
    const auto x = torch::randn({3, 2, 9, 9});
    ours->forward(x).square().sum().backward();
    theirs->forward(x).square().sum().backward();
    EXPECT_TRUE(torch::allclose(ours->weight.grad(), theirs->weight.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(ours->bias.grad(), theirs->bias.grad(), 1e-5, 1e-6));
  }
  {
    GroupNorm ours(GroupNormOptions(2, 4));
    torch::nn::GroupNorm theirs(torch::nn::GroupNormOptions(2, 4));
    const auto x = torch::randn({3, 4, 5, 5});
    EXPECT_TRUE(torch::allclose(ours->forward(x), theirs->forward(x), 1e-5, 1e-6));
  }
}

TEST(Layers, InitializationFollowsTorchsFanInBound) {
  torch::manual_seed(1);
  Linear layer(400, 300);
  const double bound = 1.0 / std::sqrt(400.0);
  EXPECT_LE(layer->weight.abs().max().item<double>(), bound);
  // U(-b, b) has standard deviation b/√3.
  EXPECT_NEAR(layer->weight.std().item<double>(), bound / std::sqrt(3.0), 0.01 * bound);
}

}  // namespace
}  // namespace dpforge::nn
