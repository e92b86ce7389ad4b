// SPDX-License-Identifier: Apache-2.0
// Max pooling with LibTorch's values and gradients, taken by the fastest of its own CPU kernels.
// LibTorch 2.13's max_pool2d on contiguous (NCHW) CPU tensors is several times slower than on
// channels-last ones; both scan a window in the same order, so they agree bit for bit in the
// output and in where the gradient goes (tested against torch::nn::MaxPool2d). cnn_tanh spends
// most of its forward there: 8.2 ms of 14.3 at batch 256 on 2 threads, 1.1 ms channels-last.
//
// Example:
//   nn::MaxPool2d pool(nn::MaxPool2dOptions(2).stride(1));
//   const auto y = pool(torch::randn({8, 16, 13, 13}));  // 8 x 16 x 12 x 12
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "dpforge/core/options.h"

namespace dpforge::nn {

struct MaxPool2dOptions {
  explicit MaxPool2dOptions(int64_t kernel_size)
      : kernel_size_(kernel_size), stride_(kernel_size) {}
  DPF_ARG(int64_t, kernel_size);
  DPF_ARG(int64_t, stride);
  DPF_ARG(int64_t, padding) = 0;
};

/// torch::nn::MaxPool2d's function over B x C x H x W (square windows, no dilation).
class MaxPool2dImpl : public torch::nn::Cloneable<MaxPool2dImpl> {
 public:
  explicit MaxPool2dImpl(MaxPool2dOptions options);
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& input);

  MaxPool2dOptions options;
};
TORCH_MODULE(MaxPool2d);

}  // namespace dpforge::nn
