// SPDX-License-Identifier: Apache-2.0
// Composite blocks of DP layers.
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "dpforge/nn/layers.h"

namespace dpforge::nn {

/// Pre-activation residual block: GN → ReLU → conv3x3(stride) → GN → ReLU → conv3x3, plus a 1x1
/// projection shortcut when the shape changes (Zagoruyko & Komodakis 2016, GroupNorm per De et
/// al. 2022). GroupNorm has kGroups groups.
class WideBlockImpl : public torch::nn::Cloneable<WideBlockImpl> {
 public:
  WideBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);

  static constexpr int64_t kGroups = 16;
  GroupNorm norm1{nullptr}, norm2{nullptr};
  Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};

 private:
  int64_t in_channels_, out_channels_, stride_;
};
TORCH_MODULE(WideBlock);

}  // namespace dpforge::nn
