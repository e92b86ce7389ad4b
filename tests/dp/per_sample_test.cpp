// SPDX-License-Identifier: Apache-2.0
// Per-example norms and clipped sums of every DP layer against the loop oracle (dp/oracle.h).
#include "dpforge/dp/per_sample.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "dp/oracle.h"
#include "dpforge/dp/clipping.h"
#include "dpforge/nn/blocks.h"
#include "dpforge/nn/layer_builder.h"
#include "dpforge/nn/layers.h"
#include "dpforge/nn/models.h"
#include "dpforge/train/steps.h"
#include "test_util.h"

namespace dpforge::dp {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

LossFn cross_entropy_per_example = [](const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nn::functional::cross_entropy(
      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
};

// Whether the first layer's norms take the ghost route for output gradients of `output_sizes`.
bool first_layer_uses_ghost_norm(torch::nn::Sequential& model, const torch::Tensor& x,
                                 std::vector<int64_t> output_sizes) {
  GradTape tape;
  {
    TapeGuard guard(tape);
    model->forward(x);
  }
  return PerSampleLayer(tape.records()[0], torch::ones(output_sizes, torch::kFloat64))
      .uses_ghost_norm();
}

TEST(PerSample, LinearOnBatchOfVectors) {
  torch::manual_seed(1);
  torch::nn::Sequential model(nn::Linear(7, 5));
  const auto x = torch::randn({6, 7}, torch::kFloat64);
  check_against_loop(model, x, aux_for(model, x));
}

TEST(PerSample, LinearOnSequencesBothSidesOfTheMixedRule) {
  torch::manual_seed(2);
  {
    torch::nn::Sequential model(nn::Linear(8, 6));  // T=3: T·(p+d) = 42 ≤ p·d = 48 → ghost
    const auto x = torch::randn({4, 3, 8}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
    EXPECT_TRUE(first_layer_uses_ghost_norm(model, x, {4, 3, 6}));
  }
  {
    torch::nn::Sequential model(nn::Linear(3, 2));  // T=10: T·(p+d) = 50 > 6 → materialized
    const auto x = torch::randn({5, 10, 3}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
    EXPECT_FALSE(first_layer_uses_ghost_norm(model, x, {5, 10, 2}));
  }
  {
    // T=5: T·(p+d) = 80 > p·d = 64 → materialized (faster, and less kept than A and G), where
    // Bu et al.'s 2T² = 50 ≤ 64 would have chosen ghost.
    torch::nn::Sequential model(nn::Linear(8, 8));
    const auto x = torch::randn({4, 5, 8}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
    EXPECT_FALSE(first_layer_uses_ghost_norm(model, x, {4, 5, 8}));
  }
  {
    torch::nn::Sequential model(nn::Linear(nn::LinearOptions(4, 3).bias(false)));
    const auto x = torch::randn({3, 2, 4}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
}

TEST(PerSample, Conv2dWithStridePaddingDilationBothRules) {
  torch::manual_seed(3);
  {
    // T = 25 positions, p·d = 4·27: materialized.
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).stride(2).padding(1)));
    const auto x = torch::randn({3, 3, 9, 9}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    // T = 4, p·d = 16·72: ghost.
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(8, 16, 3).stride(2).dilation(2)));
    const auto x = torch::randn({4, 8, 7, 7}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    // T = 400, p·d = 64·288, T·p·d = 7.4M multiply-adds per example: materialized by the
    // per-example convolution-backward loop (in the weight's own column order), not by im2col.
    torch::nn::Sequential model(
        nn::Conv2d(nn::Conv2dOptions(32, 64, 3).stride(2).padding(2).dilation(2)));
    const auto x = torch::randn({3, 32, 40, 40}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    // The same loop on a wide layer whose A and G (2 x 128·196 floats per example) are smaller
    // than its ∇Wᵢ (128·1152): only the norms are kept, the clipped sum is one batched call.
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(128, 128, 3).padding(1)));
    const auto x = torch::randn({3, 128, 14, 14}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    // im2col rows made a chunk of examples at a time (2^21 floats): T·d = 3600·400 gives one
    // example per chunk (materialized, T·p·d below the loop threshold); T·d = 16·16384 gives eight
    // (ghost).
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(16, 2, 5).padding(2)));
    const auto x = torch::randn({3, 16, 60, 60}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
    torch::nn::Sequential wide(nn::Conv2d(nn::Conv2dOptions(256, 20, 8).stride(1)));
    const auto y = torch::randn({10, 256, 11, 11}, torch::kFloat64);
    check_against_loop(wide, y, aux_for(wide, y));
    EXPECT_TRUE(first_layer_uses_ghost_norm(wide, y, {10, 20, 4, 4}));
  }
  {
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(2, 3, 2).bias(false).padding(1)));
    const auto x = torch::randn({1, 2, 4, 5}, torch::kFloat64);  // B = 1
    check_against_loop(model, x, aux_for(model, x));
  }
}

TEST(PerSample, NormLayers) {
  torch::manual_seed(4);
  {
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(2, 4, 3)),
                                nn::GroupNorm(nn::GroupNormOptions(2, 4)));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.normal_();
    }
    const auto x = torch::randn({3, 2, 6, 6}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    torch::nn::Sequential model(nn::Linear(6, 6), nn::LayerNorm(nn::LayerNormOptions({6})));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.normal_();
    }
    const auto x = torch::randn({3, 5, 6}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
}

TEST(PerSample, EmbeddingWithRepeatsAndPadding) {
  torch::manual_seed(5);
  torch::nn::Sequential model(nn::Embedding(nn::EmbeddingOptions(10, 4).padding_idx(0)),
                              nn::Linear(4, 3));
  const auto x =
      torch::tensor({{1, 2, 1, 0, 5, 1}, {0, 0, 3, 3, 3, 9}, {7, 8, 9, 2, 2, 0}}, torch::kLong);
  check_against_loop(model, x, aux_for(model, x));
}

// A table's categorical codes through their own tables in front of the mlp
// (data.categorical_encoding = embedding): repeated codes across examples, code 0 (outside the
// vocabulary) included, and numeric features between the coded ones.
TEST(PerSample, TabularEmbeddingInFrontOfTheMlp) {
  torch::manual_seed(14);
  data::Dataset like;
  like.inputs = torch::zeros({1, 4});
  like.labels = torch::zeros({1}, torch::kLong);
  like.num_classes = 3;
  like.category_codes = {{.feature = 1, .categories = 3, .name = "colour"},
                         {.feature = 3, .categories = 2, .name = "size"}};
  auto model = nn::make_model(nn::ModelOptions().arch(nn::Arch::kMlp).mlp_hidden(8), like);
  const auto x = torch::tensor(
      {{0.5, 1.0, -1.0, 2.0}, {1.5, 0.0, 0.25, 1.0}, {-0.5, 1.0, 2.0, 0.0}, {0.1, 3.0, 0.3, 2.0}},
      torch::kFloat64);
  const auto labels = torch::tensor({0, 2, 1, 2}, torch::kLong);
  check_against_loop(model, x, labels, cross_entropy_per_example);
  // 2 numbers + 3 + 3 (round(1.6·4^0.56) and round(1.6·3^0.56)) into the first Linear.
  EXPECT_EQ(model->named_parameters()["2.weight"].size(1), 8);
  EXPECT_THAT(
      testing::error_of([&] { nn::make_model(nn::ModelOptions().arch(nn::Arch::kCnnTanh), like); }),
      HasSubstr("use model.arch = mlp"));
}

// Networks written in the layer language (model.arch = layers): a CNN with GroupNorm, GELU, average
// pooling and a strided residual with a 1x1 projection; a residual MLP with LayerNorm and a linear
// projection; a text classifier on token ids (repeats included) through an embedding and LayerNorm.
TEST(PerSample, LayerStringModelsPassTheLoopOracle) {
  torch::manual_seed(15);
  {
    auto model = nn::build_layers(
        nn::parse_layers("conv(8, k=3, p=1) groupnorm(4) gelu residual(conv(12, k=3, s=2, p=1) "
                         "groupnorm(3) relu conv(12, k=3, p=1)) avgpool(2) flatten linear(out)"),
        {2, 8, 8}, 3);
    const auto x = torch::randn({4, 2, 8, 8}, torch::kFloat64);
    check_against_loop(model, x, torch::tensor({0, 2, 1, 2}, torch::kLong),
                       cross_entropy_per_example);
  }
  {
    auto model = nn::build_layers(
        nn::parse_layers("linear(16) layernorm residual(linear(16) elu linear(16)) "
                         "residual(linear(8) sigmoid) linear(out)"),
        {5}, 2);
    const auto x = torch::randn({6, 5}, torch::kFloat64);
    check_against_loop(model, x, torch::tensor({0, 1, 1, 0, 1, 0}, torch::kLong),
                       cross_entropy_per_example);
  }
  {
    auto model = nn::build_layers(
        nn::parse_layers("embedding(20, 6) layernorm linear(8) tanh flatten linear(out)"), {5}, 3);
    const auto tokens =
        torch::tensor({{1, 4, 4, 0, 19}, {3, 3, 3, 3, 3}, {7, 2, 9, 2, 0}}, torch::kFloat64);
    check_against_loop(model, tokens, torch::tensor({2, 0, 1}, torch::kLong),
                       cross_entropy_per_example);
  }
}

TEST(PerSample, FullModelsWithCrossEntropy) {
  torch::manual_seed(6);
  const auto images = torch::rand({5, 1, 28, 28}, torch::kFloat64);
  const auto labels = torch::tensor({0, 3, 9, 3, 1}, torch::kLong);
  nn::ModelOptions options;
  check_against_loop(nn::make_model(options.arch(nn::Arch::kCnnTanh)), images, labels,
                     cross_entropy_per_example);
  check_against_loop(nn::make_model(options.arch(nn::Arch::kMlp).mlp_hidden(16)), images, labels,
                     cross_entropy_per_example);
}

// The wrn16_4 residual block (GroupNorm, two convolutions, a strided projection shortcut): the
// per-layer oracle too, since its layers' slices add up to each example's gradient.
TEST(PerSample, WideResidualBlockWithProjectionShortcut) {
  torch::manual_seed(13);
  auto model = nn::build_layers(
      nn::parse_layers("groupnorm(16) relu residual(conv(32, k=3, s=2, p=1) groupnorm(16) relu "
                       "conv(32, k=3, p=1)) flatten linear(3)"),
      {16, 8, 8}, 3);
  const auto x = torch::randn({3, 16, 8, 8}, torch::kFloat64);
  check_against_loop(model, x, aux_for(model, x));
}

}  // namespace
}  // namespace dpforge::dp

namespace dpforge::dp {

// What a failure prints of a method: its name, not its bytes (found by gtest through ADL).
void PrintTo(NormMethod method, std::ostream* out) { *out << to_string(method); }

namespace {

// The layer registry predicts, from shapes alone, how the engine will compute each layer's
// per-example norm (what `dpforge summary` prints); the engine, given the same layers, must choose
// exactly that: every method once, a residual's projection included.
TEST(PerSample, EachLayersNormMethodIsTheOneTheRegistryPredicts) {
  using M = NormMethod;
  struct Case {
    std::string layers;
    std::vector<int64_t> example_shape;
    std::vector<std::optional<M>> predicted;  // in the builder's order, one per built layer
    std::vector<M> engine;                    // in the order of the forward's tape
  };
  const std::vector<Case> cases = {
      {"conv(64, k=3, p=1) groupnorm(8) relu conv(64, k=3, p=1) maxpool(4) "
       "residual(conv(32, k=3, p=1)) flatten linear(16) tanh linear(out)",
       {3, 16, 16},
       {M::kMaterialized, M::kNormStatistics, std::nullopt, M::kByExample, std::nullopt,
        M::kGhost /* the 1x1 projection */, M::kGhost, std::nullopt, M::kDirect, std::nullopt,
        M::kDirect},
       {M::kMaterialized, M::kNormStatistics, M::kByExample, M::kGhost, M::kGhost, M::kDirect,
        M::kDirect}},
      {"embedding(50, 8) linear(64) layernorm relu linear(4) flatten linear(out)",
       {6},
       {M::kEmbedding, M::kGhost, M::kNormStatistics, std::nullopt, M::kMaterialized, std::nullopt,
        M::kDirect},
       {M::kEmbedding, M::kGhost, M::kNormStatistics, M::kMaterialized, M::kDirect}},
  };
  torch::manual_seed(17);
  for (const auto& c : cases) {
    torch::nn::Sequential model;
    const auto built = nn::append_layers(model, nn::parse_layers(c.layers), c.example_shape, 3);
    std::vector<std::optional<M>> predicted;
    for (const auto& layer : built) predicted.push_back(layer.norm);
    EXPECT_EQ(predicted, c.predicted) << c.layers;

    std::vector<int64_t> batch = {2};
    batch.insert(batch.end(), c.example_shape.begin(), c.example_shape.end());
    const auto x = c.example_shape.size() == 1 ? torch::randint(0, 50, batch).to(torch::kFloat32)
                                               : torch::randn(batch);
    GradTape tape;
    torch::Tensor loss;
    {
      TapeGuard guard(tape);
      loss = model->forward(x).square().sum();
    }
    std::vector<M> engine;
    for (const auto& layer : per_sample_layers(tape, loss)) engine.push_back(layer.method());
    EXPECT_EQ(engine, c.engine) << c.layers;
  }
}

}  // namespace
}  // namespace dpforge::dp
