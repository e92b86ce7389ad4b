// SPDX-License-Identifier: Apache-2.0
// The per-example clipping operations that have a CUDA kernel (kernels/per_sample.cu). Each runs
// the kernel for contiguous float32 CUDA tensors when dpforge is built with its CUDA bridge, and
// otherwise its CPU twin in reference:: — plain torch operations, on any device and dtype, and
// the oracle the *_CUDA tests check the kernels against (ggml's rule: every GPU op has a CPU one).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "dpforge/dp/device.h"

namespace dpforge::dp::ops {

/// Σ_j rows[i, …]² per example: B x … → B.
torch::Tensor row_squared_norms(const torch::Tensor& rows);
/// Σ_i factors[i] · rows[i, …]: B and B x n → n (the clipped sum of a materialized layer).
torch::Tensor weighted_row_sum(const torch::Tensor& factors, const torch::Tensor& rows);
/// rows ⊙ factors broadcast over all but the first dimension (c ⊙ G).
torch::Tensor scale_rows(const torch::Tensor& rows, const torch::Tensor& factors);
/// ⟨AᵢAᵢᵀ, GᵢGᵢᵀ⟩_F ≥ 0 per example for a: B x T x d, g: B x T x p.
torch::Tensor ghost_squared_norms(const torch::Tensor& a, const torch::Tensor& g);

struct ClipFactors {
  torch::Tensor norms;    // √Σ_l layer_squared[l], one per example (may be NaN/Inf)
  torch::Tensor factors;  // 0 for an example whose norm is not finite
  int64_t dropped = 0;    // how many such examples
};
/// Flat (min(1, C/(n+1e-6))) or automatic (C/(n+γ)) clip factors from each layer's squared norms.
ClipFactors clip_factors(const std::vector<torch::Tensor>& layer_squared, double max_norm,
                         bool automatic, double gamma);

/// Peak bytes allocated through LibTorch's CUDA caching allocator on `device` since the last reset
/// (-1 when built without the bridge); `reset` first starts a new peak (then: the bytes in use
/// now).
int64_t cuda_peak_allocated_bytes(int device, bool reset);

namespace reference {
torch::Tensor row_squared_norms(const torch::Tensor& rows);
torch::Tensor weighted_row_sum(const torch::Tensor& factors, const torch::Tensor& rows);
torch::Tensor scale_rows(const torch::Tensor& rows, const torch::Tensor& factors);
torch::Tensor ghost_squared_norms(const torch::Tensor& a, const torch::Tensor& g);
ClipFactors clip_factors(const std::vector<torch::Tensor>& layer_squared, double max_norm,
                         bool automatic, double gamma);
}  // namespace reference

}  // namespace dpforge::dp::ops
