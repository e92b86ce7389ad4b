// SPDX-License-Identifier: Apache-2.0
// DP layers and the tape: what a DP forward records and keeps, and models the engine refuses.
#include "dpforge/nn/layers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dp/oracle.h"
#include "dpforge/core/error.h"
#include "dpforge/dp/tape.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/validate.h"

namespace dpforge::dp {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(Layers, RecordNothingInEvalModeOrWithoutATape) {
  nn::Linear layer(3, 2);
  GradTape tape;
  layer->forward(torch::randn({2, 3}));
  EXPECT_TRUE(tape.records().empty());
  {
    TapeGuard guard(tape);
    layer->eval();
    layer->forward(torch::randn({2, 3}));
  }
  EXPECT_TRUE(tape.records().empty());
}

// A DP forward forms no parameter gradient and keeps no layer output: a Linear's pre-activation
// under tanh (which saves only its own output) is freed with the forward's temporaries. Each
// layer's G reaches the consumer during the backward, equal to autograd's; an unreached layer's
// is zeros; with release_inputs, the tape no longer holds a consumed layer's input.
TEST(Layers, TapeHandsEachOutputGradientOverDuringTheBackward) {
  nn::Linear first(3, 4), unreached(3, 2);
  const auto x = torch::randn({5, 3});
  GradTape tape;
  torch::Tensor pre_activation, activated;
  {
    TapeGuard guard(tape);
    pre_activation = first->forward(x);
    activated = torch::tanh(pre_activation);
    unreached->forward(x);
  }
  const auto loss = activated.square().sum();
  const auto expected =
      torch::autograd::grad({loss}, {pre_activation}, {}, /*retain_graph=*/true)[0];
  const c10::weak_intrusive_ptr<c10::StorageImpl> storage(
      pre_activation.storage().getWeakStorageImpl());
  pre_activation.reset();
  EXPECT_TRUE(storage.expired()) << "a layer output outlived the forward";

  std::vector<torch::Tensor> grads(2);
  std::vector<bool> input_held_when_consumed;
  tape.backward(
      loss,
      [&](size_t l, const torch::Tensor& grad) {
        grads[l] = grad;
        input_held_when_consumed.push_back(tape.records()[l].input.defined());
      },
      /*release_inputs=*/true);
  EXPECT_TRUE(torch::allclose(grads[0], expected));
  EXPECT_TRUE(torch::equal(grads[1], torch::zeros({5, 2})));
  EXPECT_EQ(input_held_when_consumed, std::vector<bool>({true, true}));
  EXPECT_FALSE(tape.records()[0].input.defined());
  EXPECT_FALSE(first->weight.grad().defined()) << "autograd formed a parameter gradient";
}

TEST(Validate, RejectsBatchNormAndForeignParameterizedModules) {
  torch::nn::Sequential with_bn(nn::Conv2d(nn::Conv2dOptions(1, 4, 3)), torch::nn::BatchNorm2d(4));
  EXPECT_THAT([&] { nn::validate_model(*with_bn); },
              ::testing::ThrowsMessage<InputError>(
                  AllOf(HasSubstr("BatchNorm2d"), HasSubstr("'model.1'"), HasSubstr("GroupNorm"))));
  torch::nn::Sequential foreign(torch::nn::Linear(3, 2));
  EXPECT_THAT([&] { nn::validate_model(*foreign); },
              ::testing::ThrowsMessage<InputError>(
                  AllOf(HasSubstr("'model.0'"), HasSubstr("dpforge::nn::Linear"))));
  nn::ModelOptions options;
  for (const char* arch : {"mlp", "cnn_tanh", "wrn16_4"}) {
    EXPECT_NO_THROW(nn::validate_model(*nn::make_model(options.arch(*nn::kArchNames.parse(arch)))))
        << arch;
  }
}

// A layer used twice in one forward (shared weights) gets one tape record per use, each normed on
// its own. The example's gradient of that weight is the sum of both uses, whose norm can exceed
// the square root of the summed squares by up to √2: its clipped contribution could exceed C.
TEST(Validate, RejectsAModuleUsedTwice) {
  nn::Linear shared(4, 4);
  torch::nn::Sequential model(shared, torch::nn::Tanh(), shared);
  EXPECT_THAT([&] { nn::validate_model(*model); },
              ::testing::ThrowsMessage<InputError>(
                  AllOf(HasSubstr("'model.0'"), HasSubstr("'model.2'"), HasSubstr("shared"))));
}

TEST(Layers, TapeRejectsALayerUsedTwiceInOneForward) {
  nn::Linear shared(4, 4);
  GradTape tape;
  TapeGuard guard(tape);
  const auto once = shared->forward(torch::randn({2, 4}));
  EXPECT_THAT([&] { shared->forward(torch::tanh(once)); },
              ::testing::ThrowsMessage<c10::Error>(HasSubstr("used twice in one DP forward")));
  tape.clear();  // a new forward on the same tape may use it again
  EXPECT_NO_THROW(shared->forward(torch::randn({2, 4})));
}

TEST(Validate, RejectsALayerFrozenOnlyInPart) {
  nn::Linear layer(4, 3);
  layer->weight.set_requires_grad(false);
  torch::nn::Sequential model(layer);
  EXPECT_THAT([&] { nn::validate_model(*model); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("frozen only in part")));
  layer->bias.set_requires_grad(false);
  EXPECT_NO_THROW(nn::validate_model(*model));
}

// A module that mixes the examples of a batch, whatever its name: the probe notices by behaviour.
struct CenterOverBatchImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) { return x - x.mean(0, /*keepdim=*/true); }
};
TORCH_MODULE(CenterOverBatch);

TEST(Validate, AModuleThatMixesExamplesIsRefusedByBehaviourNotByName) {
  const auto examples = torch::randn({3, 6});
  torch::nn::Sequential mixing(nn::Linear(6, 4), CenterOverBatch(), nn::Linear(4, 2));
  EXPECT_NO_THROW(nn::validate_model(*mixing));  // no name gives it away
  EXPECT_THAT([&] { nn::check_examples_independent(mixing, examples); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("mixes the examples of a batch")));
  // Dropout draws per element: independent, and the probe leaves the random state untouched.
  torch::nn::Sequential dropout(nn::Linear(6, 4), torch::nn::Dropout(0.5), nn::Linear(4, 2));
  torch::manual_seed(3);
  const auto expected_next = torch::rand({4});
  torch::manual_seed(3);
  EXPECT_NO_THROW(nn::check_examples_independent(dropout, examples));
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected_next));
}

TEST(Layers, AFrozenLayerRecordsNothing) {
  nn::Linear frozen(4, 3);
  frozen->weight.set_requires_grad(false);
  frozen->bias.set_requires_grad(false);
  GradTape tape;
  {
    TapeGuard guard(tape);
    frozen->forward(torch::randn({2, 4}));
  }
  EXPECT_TRUE(tape.records().empty());
}

}  // namespace
}  // namespace dpforge::dp
