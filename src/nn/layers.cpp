// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/layers.h"

#include <torch/torch.h>

#include <cmath>

#include "dpforge/dp/tape.h"

namespace dpforge::nn {
namespace {

// torch.nn's default for Linear and Conv: kaiming_uniform(a=√5) on the weight, which is
// U(-1/√fan_in, 1/√fan_in), and the same bound for the bias.
void init_uniform_fan_in(torch::Tensor& weight, torch::Tensor& bias, int64_t fan_in) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  torch::NoGradGuard no_grad;
  weight.uniform_(-bound, bound);
  if (bias.defined()) bias.uniform_(-bound, bound);
}

// In a DP forward the parameters enter detached: their gradients come from the tape, so autograd
// must not form them (nor keep what forming them would need).
torch::Tensor detached(const torch::Tensor& parameter) {
  return parameter.defined() ? parameter.detach() : parameter;
}

// The tape is written only in training mode (evaluation must never feed the DP engine) and only
// by a layer with trainable parameters: a frozen layer is released as it was, so it gets neither a
// gradient nor noise (validate_model refuses a layer frozen only in part).
dp::GradTape* recording_tape(const torch::nn::Module& module) {
  if (!module.is_training()) return nullptr;
  for (const auto& parameter : module.parameters(/*recurse=*/false)) {
    if (parameter.requires_grad()) return dp::active_tape();
  }
  return nullptr;
}

}  // namespace

LinearImpl::LinearImpl(LinearOptions options_) : options(std::move(options_)) { reset(); }

void LinearImpl::reset() {
  weight =
      register_parameter("weight", torch::empty({options.out_features(), options.in_features()}));
  // No bias: nothing registered, like PyTorch's bias=None (and no untrainable parameter to clip).
  if (options.bias()) bias = register_parameter("bias", torch::empty({options.out_features()}));
  init_uniform_fan_in(weight, bias, options.in_features());
}

torch::Tensor LinearImpl::forward(const torch::Tensor& input) {
  auto* tape = recording_tape(*this);
  if (tape == nullptr) return torch::nn::functional::linear(input, weight, bias);
  return tape->record(
      {.kind = dp::LayerKind::kLinear, .input = input.detach(), .weight = weight, .bias = bias},
      torch::nn::functional::linear(input, weight.detach(), detached(bias)));
}

Conv2dImpl::Conv2dImpl(Conv2dOptions options_) : options(std::move(options_)) { reset(); }

void Conv2dImpl::reset() {
  const int64_t k = options.kernel_size();
  weight = register_parameter("weight",
                              torch::empty({options.out_channels(), options.in_channels(), k, k}));
  if (options.bias()) bias = register_parameter("bias", torch::empty({options.out_channels()}));
  init_uniform_fan_in(weight, bias, options.in_channels() * k * k);
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& input) {
  auto* tape = recording_tape(*this);
  if (tape == nullptr) {
    return torch::conv2d(input, weight, bias, options.stride(), options.padding(),
                         options.dilation());
  }
  return tape->record({.kind = dp::LayerKind::kConv2d,
                       .input = input.detach(),
                       .weight = weight,
                       .bias = bias,
                       .stride = options.stride(),
                       .padding = options.padding(),
                       .dilation = options.dilation()},
                      torch::conv2d(input, weight.detach(), detached(bias), options.stride(),
                                    options.padding(), options.dilation()));
}

GroupNormImpl::GroupNormImpl(GroupNormOptions options_) : options(std::move(options_)) { reset(); }

void GroupNormImpl::reset() {
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({options.num_channels()}));
    bias = register_parameter("bias", torch::zeros({options.num_channels()}));
  }
}

torch::Tensor GroupNormImpl::forward(const torch::Tensor& input) {
  auto* tape = recording_tape(*this);
  if (tape == nullptr || !options.affine()) {
    return torch::group_norm(input, options.num_groups(), weight, bias, options.eps());
  }
  dp::LayerRecord record{
      .kind = dp::LayerKind::kGroupNorm, .input = input.detach(), .weight = weight, .bias = bias};
  record.groups = options.num_groups();
  record.eps = options.eps();
  return tape->record(std::move(record),
                      torch::group_norm(input, options.num_groups(), weight.detach(), bias.detach(),
                                        options.eps()));
}

LayerNormImpl::LayerNormImpl(LayerNormOptions options_) : options(std::move(options_)) { reset(); }

void LayerNormImpl::reset() {
  if (options.elementwise_affine()) {
    weight = register_parameter("weight", torch::ones(options.normalized_shape()));
    bias = register_parameter("bias", torch::zeros(options.normalized_shape()));
  }
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& input) {
  auto* tape = recording_tape(*this);
  if (tape == nullptr || !options.elementwise_affine()) {
    return torch::layer_norm(input, options.normalized_shape(), weight, bias, options.eps());
  }
  dp::LayerRecord record{
      .kind = dp::LayerKind::kLayerNorm, .input = input.detach(), .weight = weight, .bias = bias};
  record.eps = options.eps();
  return tape->record(std::move(record),
                      torch::layer_norm(input, options.normalized_shape(), weight.detach(),
                                        bias.detach(), options.eps()));
}

EmbeddingImpl::EmbeddingImpl(EmbeddingOptions options_) : options(std::move(options_)) { reset(); }

void EmbeddingImpl::reset() {
  weight = register_parameter("weight",
                              torch::randn({options.num_embeddings(), options.embedding_dim()}));
  if (options.padding_idx() >= 0) {
    torch::NoGradGuard no_grad;
    weight[options.padding_idx()].zero_();
  }
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& indices) {
  auto* tape = recording_tape(*this);
  if (tape == nullptr) return torch::embedding(weight, indices, options.padding_idx());
  dp::LayerRecord record{
      .kind = dp::LayerKind::kEmbedding, .input = indices.detach(), .weight = weight};
  record.padding_idx = options.padding_idx();
  return tape->record(std::move(record),
                      torch::embedding(weight.detach(), indices, options.padding_idx()));
}

}  // namespace dpforge::nn
