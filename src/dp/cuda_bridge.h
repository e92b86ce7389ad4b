// SPDX-License-Identifier: Apache-2.0
// Tensors in, kernels/ out: unpacks CUDA tensors to raw pointers, launches on LibTorch's current
// CUDA stream and turns a kernel status into an exception. Compiled only when LibTorch has CUDA
// and nvcc built the kernels (DPFORGE_WITH_CUDA_BRIDGE); callers check the preconditions
// (contiguous float32 on one CUDA device) and otherwise use the torch twins.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "src/dp/device_ops.h"

namespace dpforge::dp::cuda {

void add_noise_and_scale(const std::vector<torch::Tensor>& values,
                         const std::vector<uint64_t>& first_blocks, double noise_std, double scale,
                         uint64_t seed, bool secure);
torch::Tensor row_squared_norms(const torch::Tensor& rows);
torch::Tensor weighted_row_sum(const torch::Tensor& factors, const torch::Tensor& rows);
torch::Tensor scale_rows(const torch::Tensor& rows, const torch::Tensor& factors);
torch::Tensor ghost_squared_norms(const torch::Tensor& a, const torch::Tensor& g);
ops::ClipFactors clip_factors(const torch::Tensor& layer_squared, double max_norm, bool automatic,
                              double gamma);
int64_t peak_allocated_bytes(int device, bool reset);

}  // namespace dpforge::dp::cuda
