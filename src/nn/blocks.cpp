// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/blocks.h"

#include <torch/torch.h>

namespace dpforge::nn {

WideBlockImpl::WideBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride) {
  reset();
}

void WideBlockImpl::reset() {
  norm1 = register_module("norm1", GroupNorm(GroupNormOptions(kGroups, in_channels_)));
  conv1 = register_module(
      "conv1", Conv2d(Conv2dOptions(in_channels_, out_channels_, 3).stride(stride_).padding(1)));
  norm2 = register_module("norm2", GroupNorm(GroupNormOptions(kGroups, out_channels_)));
  conv2 =
      register_module("conv2", Conv2d(Conv2dOptions(out_channels_, out_channels_, 3).padding(1)));
  if (in_channels_ != out_channels_ || stride_ != 1) {
    shortcut = register_module(
        "shortcut", Conv2d(Conv2dOptions(in_channels_, out_channels_, 1).stride(stride_)));
  }
}

torch::Tensor WideBlockImpl::forward(const torch::Tensor& input) {
  const auto activated = torch::relu(norm1->forward(input));
  auto out = conv1->forward(activated);
  out = conv2->forward(torch::relu(norm2->forward(out)));
  return out + (shortcut ? shortcut->forward(activated) : input);
}

}  // namespace dpforge::nn
