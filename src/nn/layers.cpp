// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/layers.h"

#include <cmath>

#include <torch/torch.h>

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

}  // namespace

LinearImpl::LinearImpl(LinearOptions options_) : options(std::move(options_)) { reset(); }

void LinearImpl::reset() {
  weight = register_parameter("weight",
                              torch::empty({options.out_features(), options.in_features()}));
  bias = register_parameter("bias", torch::empty({options.out_features()}), options.bias());
  if (!options.bias()) bias = torch::Tensor();
  init_uniform_fan_in(weight, bias, options.in_features());
}

torch::Tensor LinearImpl::forward(const torch::Tensor& input) {
  return torch::nn::functional::linear(input, weight, bias);
}

Conv2dImpl::Conv2dImpl(Conv2dOptions options_) : options(std::move(options_)) { reset(); }

void Conv2dImpl::reset() {
  const int64_t k = options.kernel_size();
  weight = register_parameter(
      "weight", torch::empty({options.out_channels(), options.in_channels(), k, k}));
  bias = register_parameter("bias", torch::empty({options.out_channels()}), options.bias());
  if (!options.bias()) bias = torch::Tensor();
  init_uniform_fan_in(weight, bias, options.in_channels() * k * k);
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& input) {
  return torch::conv2d(input, weight, bias, options.stride(), options.padding(),
                       options.dilation());
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
  return torch::group_norm(input, options.num_groups(), weight, bias, options.eps());
}

}  // namespace dpforge::nn
