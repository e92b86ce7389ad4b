// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/models.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dpforge/core/error.h"
#include "dpforge/nn/layer_builder.h"
#include "dpforge/nn/layers.h"
#include "dpforge/nn/pooling.h"
#include "dpforge/nn/state_dict.h"
#include "dpforge/nn/trainable.h"
#include "dpforge/nn/validate.h"
#include "test_util.h"

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
  // Stem 160; per group (64/1, 128/2, 256/2): two blocks of GroupNorm + 3x3 convs and a 1x1
  // projection; final GroupNorm 512, classifier 2570 (Zagoruyko & Komodakis's WRN-16-4).
  EXPECT_EQ(count_parameters(*wrn), 2'750'858);
}

// model.init: the built model starts from saved weights, each parameter checked by name and shape.
TEST(Models, InitStartsFromSavedWeightsAndRefusesAnotherShape) {
  testing::TempDir dir;
  const auto saved = (dir / "pretrained.pt").string();
  auto pretrained = make_model(arch("mlp").mlp_hidden(16));
  save_state_dict(*pretrained, saved);
  auto started = make_model(arch("mlp").mlp_hidden(16).init(saved));
  const auto want = pretrained->named_parameters(), got = started->named_parameters();
  ASSERT_EQ(got.size(), want.size());
  for (const auto& item : want)
    EXPECT_TRUE(torch::equal(got[item.key()], item.value())) << item.key();
  EXPECT_THAT(
      testing::error_of([&] { make_model(arch("mlp").mlp_hidden(32).init(saved)); }),
      ::testing::AllOf(::testing::HasSubstr("pretrained.pt: '1.weight' has shape [16, 784]"),
                       ::testing::HasSubstr("the model needs [32, 784]")));
  // Strict: a longer network's weights share the mlp's names and shapes, plus one more layer.
  auto longer = make_model(
      arch("layers").layers("flatten linear(16) tanh linear(16) tanh linear(10) tanh linear(out)"));
  save_state_dict(*longer, saved);
  EXPECT_THAT(testing::error_of([&] { make_model(arch("mlp").mlp_hidden(16).init(saved)); }),
              ::testing::HasSubstr("pretrained.pt: holds '7.weight', which this model does not "
                                   "have"));
}

// model.trainable: what trains is chosen by name, module, glob, last or all; the rest is frozen,
// and a pattern that selects nothing or half a layer is an error naming the key and the layers.
TEST(Models, TrainableFreezesAllButTheSelectedLayers) {
  const auto trained = [](const std::string& patterns) {
    auto model = make_model(arch("mlp").mlp_hidden(8).trainable(patterns));
    std::vector<std::string> names;
    for (const auto& item : model->named_parameters())
      if (item.value().requires_grad()) names.push_back(item.key());
    EXPECT_EQ(names, trained_parameter_names(*model));
    return names;
  };
  using Names = std::vector<std::string>;
  EXPECT_EQ(trained("last"), (Names{"5.weight", "5.bias"}));
  EXPECT_EQ(trained("3, 5"), (Names{"3.weight", "3.bias", "5.weight", "5.bias"}));
  EXPECT_EQ(trained("3.*"), (Names{"3.weight", "3.bias"}));
  EXPECT_EQ(trained("all").size(), 6u);
  auto model = make_model(arch("mlp").mlp_hidden(8).trainable("last"));
  EXPECT_EQ(count_parameters(*model), 8 * 10 + 10);
  EXPECT_EQ(count_all_parameters(*model), 784 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10);
  EXPECT_NO_THROW(validate_model(*model));
  EXPECT_THAT(testing::error_of([&] { make_model(arch("mlp").trainable("4")); }),
              ::testing::AllOf(::testing::HasSubstr("model.trainable = '4': '4' selects no "
                                                    "parameter"),
                               ::testing::HasSubstr("are 1, 3, 5")));
  EXPECT_THAT(testing::error_of([&] { make_model(arch("mlp").trainable("*.bias")); }),
              ::testing::HasSubstr("selects 1.bias but not 1.weight: a layer trains whole"));
}

// A preset is its layer string, built once (no hand-built copy to drift from it): the same
// parameters in the same order (so a DP step draws the same noise for each), the same outputs.
TEST(Models, PresetsAreTheirLayerStrings) {
  for (const char* name : {"mlp", "cnn_tanh", "wrn16_4"}) {
    auto preset_options =
        arch(name).mlp_hidden(24).dropout(std::string(name) == "wrn16_4" ? 0 : 0.25);
    torch::manual_seed(21);
    auto preset = make_model(preset_options);
    auto written_options = preset_options;
    written_options.arch(Arch::kLayers).layers(preset_layers(preset_options));
    torch::manual_seed(21);
    auto written = make_model(written_options);
    const auto a = preset->parameters(), b = written->parameters();
    ASSERT_EQ(a.size(), b.size()) << name;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << name << " " << i;
    preset->eval();
    written->eval();
    const auto x = torch::rand({2, 1, 28, 28});
    EXPECT_TRUE(torch::equal(preset->forward(x), written->forward(x))) << name;
  }
  EXPECT_EQ(preset_layers(arch("cnn_tanh")),
            "conv(16, k=8, s=2, p=2) tanh maxpool(2, s=1) conv(32, k=4, s=2) tanh maxpool(2, s=1) "
            "flatten linear(32) tanh linear(out)");
}

std::string layer_error(const std::string& layers, std::vector<int64_t> shape) {
  try {
    build_layers(parse_layers(layers), shape, 10);
  } catch (const InputError& error) {
    return error.what();
  }
  return "no error";
}

// Errors name the layer, its position and the shape that did not fit; what DP cannot clip is
// refused with the replacement.
TEST(Layers, LayerStringErrorsNameTheLayerAndTheShape) {
  using ::testing::AllOf;
  using ::testing::HasSubstr;
  EXPECT_THAT(layer_error("linear(32) conv(16)", {30}),
              AllOf(HasSubstr("layer 2 conv(16)"), HasSubstr("needs C x H x W input, got 32")));
  EXPECT_THAT(layer_error("conv(8, k=3) batchnorm linear(out)", {1, 8, 8}),
              AllOf(HasSubstr("layer 2 batchnorm"), HasSubstr("use groupnorm")));
  EXPECT_THAT(layer_error("flatten lstm(4)", {1, 8, 8}), HasSubstr("unknown layer 'lstm'"));
  EXPECT_THAT(layer_error("conv(8, kernel=3)", {1, 8, 8}),
              AllOf(HasSubstr("no option 'kernel'"),
                    HasSubstr("conv takes n, k=3, s=1, p=0, d=1, bias=true")));
  // `out` is the task's outputs: an output size only, never a kernel, a group count or a width.
  EXPECT_THAT(layer_error("maxpool(out)", {1, 8, 8}),
              AllOf(HasSubstr("layer 1 maxpool(out)"), HasSubstr("k = out: only an output size")));
  EXPECT_THAT(layer_error("conv(8, k=out)", {1, 8, 8}), HasSubstr("k = out: only an output size"));
  EXPECT_THAT(layer_error("groupnorm(out)", {10, 2, 2}), HasSubstr("groups = out"));
  EXPECT_THAT(layer_error("embedding(out, 4)", {3}), HasSubstr("vocabulary = out"));
  EXPECT_THAT(layer_error("linear(4, n=5)", {4}), HasSubstr("n is given twice"));
  EXPECT_THAT(layer_error("linear", {4}), HasSubstr("needs n (linear takes n, bias=true)"));
  EXPECT_THAT(layer_error("tanh(2)", {4}), HasSubstr("takes at most 0 positional arguments"));
  EXPECT_THAT(layer_error("conv(8, k=x)", {1, 8, 8}), HasSubstr("k = 'x' must be a whole number"));
  EXPECT_THAT(layer_error("linear(99999999999)", {4}),
              HasSubstr("must be a whole number in [1, 1048576]"));
  std::string deep;
  for (int i = 0; i < 100'000; ++i) deep += "residual(";
  EXPECT_THAT(layer_error(deep, {4}), HasSubstr("residuals nested over 32 deep"));
  EXPECT_THAT(
      layer_error("maxpool(4) maxpool(4)", {1, 8, 8}),
      AllOf(HasSubstr("layer 2 maxpool(4)"), HasSubstr("does not fit its input of 1 x 2 x 2")));
  EXPECT_THAT(
      layer_error("flatten residual(linear(8) linear(4, bias=false)) residual()", {1, 4, 4}),
      HasSubstr("layer 3 residual(): residual() holds no layers"));
  EXPECT_THAT(layer_error("conv(4, k=3) residual(flatten)", {1, 8, 8}),
              AllOf(HasSubstr("layer 2 residual(flatten)"), HasSubstr("maps 4 x 6 x 6 to 144")));
  EXPECT_THAT(layer_error("groupnorm(3)", {4, 2, 2}), HasSubstr("4 channels do not split into 3"));
  EXPECT_THAT(layer_error("linear(8) embedding(10, 4)", {3}),
              AllOf(HasSubstr("layer 2 embedding(10, 4)"), HasSubstr("must be the first layer")));
  EXPECT_THAT(layer_error("residual(linear(4) residual(linear(3) tanh", {4}),
              AllOf(HasSubstr("model.layers = "), HasSubstr("at character 43 (the end)"),
                    HasSubstr("expected ')' to close residual(")));
  EXPECT_THAT(layer_error("linear(4,,)", {4}),
              HasSubstr("at character 10 (','): expected an argument"));
  EXPECT_THAT(layer_error("linear(k=2, 4)", {4}), HasSubstr("positional arguments come first"));
  EXPECT_THAT(layer_error("  ", {4}), HasSubstr("model.layers is empty"));
  // Every parameter may also be written by name; maxpool's stride defaults to its kernel.
  EXPECT_EQ(to_string(parse_layers("conv(n=4, k=3) maxpool(k=2) flatten linear(n=out)")),
            "conv(k=3, n=4) maxpool(k=2) flatten linear(n=out)");
  EXPECT_EQ(
      build_layers(parse_layers("conv(n=4, k=3) maxpool(k=2) flatten linear(n=out)"), {1, 8, 8}, 10)
          ->forward(torch::zeros({2, 1, 8, 8}))
          .sizes(),
      (std::vector<int64_t>{2, 10}));  // 8 → 6 → 3 (stride 2): 4·3·3 = 36 → 10
  // The residual's shortcut: identity, a 1x1 strided conv, or a linear projection.
  EXPECT_EQ(layer_error("conv(4, k=3, p=1) residual(conv(8, k=3, s=2, p=1)) flatten linear(out)",
                        {1, 8, 8}),
            "no error");
  const auto layers = parse_layers("conv(16, k=8, s=2, p=2) residual(linear(4) relu) flatten");
  EXPECT_EQ(to_string(layers), "conv(16, k=8, p=2, s=2) residual(linear(4) relu) flatten");
  EXPECT_EQ(to_string(parse_layers(to_string(layers))), to_string(layers));
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
  // Max pooling, bit for bit, with ties (tanh saturates to exactly 1) and NaN, with a gradient to
  // route (channels-last kernel) and without (cnn_tanh's window by shifted maxima).
  for (const auto& [k, s, p] : {std::tuple{2, 1, 0}, std::tuple{3, 2, 1}, std::tuple{2, 2, 0}}) {
    MaxPool2d ours(MaxPool2dOptions(k).stride(s).padding(p));
    torch::nn::MaxPool2d theirs(torch::nn::MaxPool2dOptions(k).stride(s).padding(p));
    auto x = torch::tanh(10 * torch::randn({3, 4, 9, 9}));
    x[1][2][4][4] = std::nan("");
    EXPECT_TRUE(torch::equal(ours->forward(x).isnan(), theirs->forward(x).isnan()));
    EXPECT_TRUE(torch::equal(ours->forward(x).nan_to_num(), theirs->forward(x).nan_to_num()));
    const auto y = x.nan_to_num().requires_grad_(true);
    const auto weights = torch::randn_like(theirs->forward(y));
    const auto grad_of = [&](auto& pool) {
      return torch::autograd::grad({(pool->forward(y) * weights).sum()}, {y})[0];
    };
    EXPECT_TRUE(torch::equal(grad_of(ours), grad_of(theirs))) << k << s << p;
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
