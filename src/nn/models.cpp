// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/models.h"

#include <torch/torch.h>

#include <stdexcept>

#include "dpforge/nn/blocks.h"
#include "dpforge/nn/layers.h"

namespace dpforge::nn {
namespace {

// Dropout after a hidden activation, when asked for. It only zeroes activations per example, so
// the DP layers still see each example's own inputs and their per-example gradients stay exact.
void maybe_dropout(torch::nn::Sequential& model, double dropout) {
  if (dropout > 0) model->push_back(torch::nn::Dropout(torch::nn::DropoutOptions(dropout)));
}

torch::nn::Sequential make_mlp(int64_t hidden, int64_t num_classes, double dropout) {
  torch::nn::Sequential model(torch::nn::Flatten(), Linear(28 * 28, hidden), torch::nn::Tanh());
  maybe_dropout(model, dropout);
  model->push_back(Linear(hidden, hidden));
  model->push_back(torch::nn::Tanh());
  maybe_dropout(model, dropout);
  model->push_back(Linear(hidden, num_classes));
  return model;
}

torch::nn::Sequential make_cnn_tanh(int64_t num_classes, double dropout) {
  using torch::nn::MaxPool2dOptions;
  torch::nn::Sequential model(Conv2d(Conv2dOptions(1, 16, 8).stride(2).padding(2)),
                              torch::nn::Tanh(),
                              torch::nn::MaxPool2d(MaxPool2dOptions(2).stride(1)),
                              Conv2d(Conv2dOptions(16, 32, 4).stride(2)), torch::nn::Tanh(),
                              torch::nn::MaxPool2d(MaxPool2dOptions(2).stride(1)),
                              torch::nn::Flatten(), Linear(32 * 4 * 4, 32), torch::nn::Tanh());
  maybe_dropout(model, dropout);
  model->push_back(Linear(32, num_classes));
  return model;
}

torch::nn::Sequential make_wrn16_4(int64_t num_classes) {
  constexpr int64_t kBlocksPerGroup = 2;  // (depth 16 - 4) / 6
  constexpr int64_t kWidth = 4;
  torch::nn::Sequential model;
  model->push_back("stem", Conv2d(Conv2dOptions(1, 16, 3).padding(1)));
  int64_t channels = 16;
  const int64_t widths[] = {16 * kWidth, 32 * kWidth, 64 * kWidth};
  const int64_t strides[] = {1, 2, 2};
  for (int group = 0; group < 3; ++group) {
    for (int64_t block = 0; block < kBlocksPerGroup; ++block) {
      model->push_back(fmt::format("group{}_block{}", group, block),
                       WideBlock(channels, widths[group], block == 0 ? strides[group] : 1));
      channels = widths[group];
    }
  }
  model->push_back("final_norm", GroupNorm(GroupNormOptions(WideBlockImpl::kGroups, channels)));
  model->push_back("final_relu", torch::nn::ReLU());
  model->push_back("pool", torch::nn::AdaptiveAvgPool2d(1));
  model->push_back("flatten", torch::nn::Flatten());
  model->push_back("classifier", Linear(channels, num_classes));
  return model;
}

}  // namespace

torch::nn::Sequential make_model(const ModelOptions& options, int64_t num_classes) {
  switch (options.arch()) {
    case Arch::kMlp:
      return make_mlp(options.mlp_hidden(), num_classes, options.dropout());
    case Arch::kCnnTanh:
      return make_cnn_tanh(num_classes, options.dropout());
    case Arch::kWrn16_4:
      return make_wrn16_4(num_classes);
  }
  throw std::invalid_argument("make_model: unknown architecture");
}

int64_t count_parameters(const torch::nn::Module& model) {
  int64_t total = 0;
  for (const auto& parameter : model.parameters()) {
    if (parameter.requires_grad()) total += parameter.numel();
  }
  return total;
}

}  // namespace dpforge::nn
