// SPDX-License-Identifier: Apache-2.0
#include "src/dp/device_ops.h"

#include <torch/torch.h>

#include <algorithm>

#if DPFORGE_WITH_CUDA_BRIDGE
#include "dpforge/dp/clipping.h"
#include "src/dp/cuda_bridge.h"
#endif

namespace dpforge::dp::ops {
namespace {

// Row norms square at most this many floats (256 KiB) at a time. The norms are taken while every
// layer's kept tensors are live, the step's peak where activations are small next to the
// parameters: a B x n temporary there cost the mlp at batch 1024 3 MiB (its input's squares) on
// top of a 4 MiB step. (Rows reduced in separate calls may round differently: ATen splits one
// long row over threads.)
constexpr int64_t kSquaresChunkFloats = int64_t{1} << 16;

[[maybe_unused]] bool kernel_ready(std::initializer_list<const torch::Tensor*> tensors) {
  for (const auto* t : tensors) {
    if (!t->is_cuda() || t->scalar_type() != torch::kFloat32) return false;
  }
  return true;
}

}  // namespace

int64_t cuda_peak_allocated_bytes([[maybe_unused]] int device, [[maybe_unused]] bool reset) {
#if DPFORGE_WITH_CUDA_BRIDGE
  return cuda::peak_allocated_bytes(device, reset);
#else
  return -1;
#endif
}

namespace reference {

torch::Tensor row_squared_norms(const torch::Tensor& rows) {
  const auto flat = rows.flatten(1);  // not reshape({B, -1}): that rejects an empty batch
  const int64_t batch = flat.size(0);
  const int64_t chunk =
      std::max<int64_t>(1, kSquaresChunkFloats / std::max<int64_t>(1, flat.size(1)));
  if (chunk >= batch) return flat.square().sum(1);
  auto squared = torch::empty({batch}, flat.options());
  for (int64_t first = 0; first < batch; first += chunk) {
    const int64_t count = std::min(chunk, batch - first);
    squared.narrow(0, first, count).copy_(flat.narrow(0, first, count).square().sum(1));
  }
  return squared;
}

torch::Tensor weighted_row_sum(const torch::Tensor& factors, const torch::Tensor& rows) {
  return factors.to(rows.dtype()).matmul(rows.reshape({rows.size(0), -1}));
}

torch::Tensor scale_rows(const torch::Tensor& rows, const torch::Tensor& factors) {
  std::vector<int64_t> shape(rows.dim(), 1);
  shape[0] = rows.size(0);
  return rows * factors.to(rows.dtype()).view(shape);
}

torch::Tensor ghost_squared_norms(const torch::Tensor& a, const torch::Tensor& g) {
  return (torch::bmm(a, a.transpose(1, 2)) * torch::bmm(g, g.transpose(1, 2)))
      .sum({1, 2})
      .clamp_min(0);
}

ClipFactors clip_factors(const std::vector<torch::Tensor>& layer_squared, double max_norm,
                         bool automatic, double gamma) {
  ClipFactors result;
  result.norms = torch::stack(layer_squared).sum(0).sqrt();
  const auto finite = torch::isfinite(result.norms);
  result.dropped = result.norms.size(0) - finite.sum().item<int64_t>();
  const auto safe = torch::where(finite, result.norms, torch::zeros_like(result.norms));
  const auto raw =
      automatic ? max_norm / (safe + gamma) : (max_norm / (safe + kClipNormEpsilon)).clamp_max(1.0);
  result.factors = raw * finite.to(raw.dtype());
  return result;
}

}  // namespace reference

torch::Tensor row_squared_norms(const torch::Tensor& rows) {
#if DPFORGE_WITH_CUDA_BRIDGE
  if (kernel_ready({&rows})) return cuda::row_squared_norms(rows.contiguous());
#endif
  return reference::row_squared_norms(rows);
}

torch::Tensor weighted_row_sum(const torch::Tensor& factors, const torch::Tensor& rows) {
#if DPFORGE_WITH_CUDA_BRIDGE
  if (kernel_ready({&factors, &rows}))
    return cuda::weighted_row_sum(factors.contiguous(), rows.contiguous());
#endif
  return reference::weighted_row_sum(factors, rows);
}

torch::Tensor scale_rows(const torch::Tensor& rows, const torch::Tensor& factors) {
#if DPFORGE_WITH_CUDA_BRIDGE
  if (kernel_ready({&rows, &factors}))
    return cuda::scale_rows(rows.contiguous(), factors.contiguous());
#endif
  return reference::scale_rows(rows, factors);
}

torch::Tensor ghost_squared_norms(const torch::Tensor& a, const torch::Tensor& g) {
#if DPFORGE_WITH_CUDA_BRIDGE
  if (kernel_ready({&a, &g}))
    return cuda::ghost_squared_norms(a.contiguous(), g.contiguous()).clamp_min(0);
#endif
  return reference::ghost_squared_norms(a, g);
}

ClipFactors clip_factors(const std::vector<torch::Tensor>& layer_squared, double max_norm,
                         bool automatic, double gamma) {
#if DPFORGE_WITH_CUDA_BRIDGE
  if (!layer_squared.empty() && kernel_ready({&layer_squared.front()})) {
    return cuda::clip_factors(torch::stack(layer_squared), max_norm, automatic, gamma);
  }
#endif
  return reference::clip_factors(layer_squared, max_norm, automatic, gamma);
}

}  // namespace dpforge::dp::ops

namespace dpforge::dp {

bool cuda_kernels_available() {
#if DPFORGE_WITH_CUDA_BRIDGE
  return true;
#else
  return false;
#endif
}

}  // namespace dpforge::dp
