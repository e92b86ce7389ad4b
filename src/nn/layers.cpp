// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/layers.h"

#include <cmath>

#include <torch/torch.h>

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

// The tape is written only in training mode: evaluation must never feed the DP engine.
dp::GradTape* recording_tape(const torch::nn::Module& module) {
  return module.is_training() ? dp::active_tape() : nullptr;
}

}  // namespace

LinearImpl::LinearImpl(LinearOptions options_) : options(std::move(options_)) { reset(); }

void LinearImpl::reset() {
  weight = register_parameter("weight",
                              torch::empty({options.out_features(), options.in_features()}));
  // No bias: nothing registered, like PyTorch's bias=None (and no untrainable parameter to clip).
  if (options.bias()) bias = register_parameter("bias", torch::empty({options.out_features()}));
  init_uniform_fan_in(weight, bias, options.in_features());
}

torch::Tensor LinearImpl::forward(const torch::Tensor& input) {
  auto output = torch::nn::functional::linear(input, weight, bias);
  if (auto* tape = recording_tape(*this)) {
    tape->record({.kind = dp::LayerKind::kLinear, .input = input.detach(),
                  .output_edge = dp::graph_edge(output), .output_sizes = output.sizes().vec(),
                  .weight = weight, .bias = bias});
  }
  return output;
}

Conv2dImpl::Conv2dImpl(Conv2dOptions options_) : options(std::move(options_)) { reset(); }

void Conv2dImpl::reset() {
  const int64_t k = options.kernel_size();
  weight = register_parameter(
      "weight", torch::empty({options.out_channels(), options.in_channels(), k, k}));
  if (options.bias()) bias = register_parameter("bias", torch::empty({options.out_channels()}));
  init_uniform_fan_in(weight, bias, options.in_channels() * k * k);
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& input) {
  auto output = torch::conv2d(input, weight, bias, options.stride(), options.padding(),
                              options.dilation());
  if (auto* tape = recording_tape(*this)) {
    tape->record({.kind = dp::LayerKind::kConv2d, .input = input.detach(),
                  .output_edge = dp::graph_edge(output), .output_sizes = output.sizes().vec(),
                  .weight = weight, .bias = bias, .stride = options.stride(),
                  .padding = options.padding(), .dilation = options.dilation()});
  }
  return output;
}

GroupNormImpl::GroupNormImpl(GroupNormOptions options_) : options(std::move(options_)) {
  reset();
}

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
  // Split normalization from the affine map so the tape can keep x̂: per-example gradients are
  // ∇γᵢ = Σ_hw x̂ᵢ ⊙ gᵢ and ∇βᵢ = Σ_hw gᵢ.
  const auto normalized = torch::group_norm(input, options.num_groups(), {}, {}, options.eps());
  std::vector<int64_t> channel_shape(input.dim(), 1);
  channel_shape[1] = options.num_channels();
  auto output = torch::addcmul(bias.view(channel_shape), normalized, weight.view(channel_shape));
  tape->record({.kind = dp::LayerKind::kGroupNorm, .input = normalized.detach(),
                .output_edge = dp::graph_edge(output), .output_sizes = output.sizes().vec(),
                .weight = weight, .bias = bias, .groups = options.num_groups()});
  return output;
}

LayerNormImpl::LayerNormImpl(LayerNormOptions options_) : options(std::move(options_)) {
  reset();
}

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
  const auto normalized = torch::layer_norm(input, options.normalized_shape(), {}, {}, options.eps());
  auto output = torch::addcmul(bias, normalized, weight);
  tape->record({.kind = dp::LayerKind::kLayerNorm, .input = normalized.detach(),
                .output_edge = dp::graph_edge(output), .output_sizes = output.sizes().vec(),
                .weight = weight, .bias = bias});
  return output;
}

EmbeddingImpl::EmbeddingImpl(EmbeddingOptions options_) : options(std::move(options_)) {
  reset();
}

void EmbeddingImpl::reset() {
  weight = register_parameter("weight",
                              torch::randn({options.num_embeddings(), options.embedding_dim()}));
  if (options.padding_idx() >= 0) {
    torch::NoGradGuard no_grad;
    weight[options.padding_idx()].zero_();
  }
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& indices) {
  auto output = torch::embedding(weight, indices, options.padding_idx());
  if (auto* tape = recording_tape(*this)) {
    tape->record({.kind = dp::LayerKind::kEmbedding, .input = indices.detach(),
                  .output_edge = dp::graph_edge(output), .output_sizes = output.sizes().vec(),
                  .weight = weight, .bias = {}, .padding_idx = options.padding_idx()});
  }
  return output;
}

}  // namespace dpforge::nn
