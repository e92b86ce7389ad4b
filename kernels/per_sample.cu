// SPDX-License-Identifier: Apache-2.0
// Per-example squared gradient norms, clip factors and clipped sums on the GPU:
// kernel -> launcher -> entry (ggml's chain). Each has a CPU twin in src/dp/device_ops.cpp
// (torch operations), which is the oracle of the *_CUDA tests.
#include <cuda_runtime.h>

#include <cmath>

#include "kernels/kernels.h"

namespace dpforge::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 16;

__device__ float block_sum(float value) {
  __shared__ float partial[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2)
    value += __shfl_down_sync(0xffffffffu, value, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  value = threadIdx.x < blockDim.x / 32 ? partial[lane] : 0.0f;
  if (warp == 0) {
    for (int offset = 16; offset > 0; offset /= 2)
      value += __shfl_down_sync(0xffffffffu, value, offset);
  }
  return value;  // valid in thread 0
}

// One block per example: out[i] = Σ_j rows[i, j]².
__global__ void row_squared_norms_kernel(const float* rows, int64_t row_length, float* out) {
  const float* row = rows + static_cast<int64_t>(blockIdx.x) * row_length;
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < row_length; j += blockDim.x) sum += row[j] * row[j];
  sum = block_sum(sum);
  if (threadIdx.x == 0) out[blockIdx.x] = sum;
}

// out[j] = Σ_i factors[i] · rows[i, j]: consecutive threads read consecutive columns (coalesced).
__global__ void weighted_row_sum_kernel(const float* rows, const float* factors, int64_t batch,
                                        int64_t row_length, float* out) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= row_length) return;
  float sum = 0.0f;
  for (int64_t i = 0; i < batch; ++i) sum += factors[i] * rows[i * row_length + j];
  out[j] = sum;
}

// rows[i, :] *= factors[i] (c ⊙ G before the book-keeping GEMM).
__global__ void scale_rows_kernel(float* rows, const float* factors, int64_t row_length,
                                  int64_t total) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k < total) rows[k] *= factors[k / row_length];
}

// Ghost norm ⟨AᵢAᵢᵀ, GᵢGᵢᵀ⟩ fused: block (bx, by, i) forms the 16x16 tile (t, s) of both Gram
// matrices of example i through shared-memory tiles over the feature dimension (as a GEMM tile
// would), multiplies them entrywise and adds the tile's sum to out[i]. Neither T x T Gram matrix
// is ever written to memory.
__device__ float gram_tile(const float* x, int64_t tokens, int64_t width, int t, int s) {
  __shared__ float rows_t[kTile][kTile + 1], rows_s[kTile][kTile + 1];
  float dot = 0.0f;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int t0 = blockIdx.x * kTile, s0 = blockIdx.y * kTile;
  for (int64_t k0 = 0; k0 < width; k0 += kTile) {
    const int64_t k = k0 + tx;
    rows_t[ty][tx] = (t0 + ty < tokens && k < width) ? x[(t0 + ty) * width + k] : 0.0f;
    rows_s[ty][tx] = (s0 + ty < tokens && k < width) ? x[(s0 + ty) * width + k] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kTile; ++q) dot += rows_t[t - t0][q] * rows_s[s - s0][q];
    __syncthreads();
  }
  return dot;
}

__global__ void ghost_norms_kernel(const float* a, const float* g, int64_t tokens, int64_t d,
                                   int64_t p, float* out) {
  const int64_t i = blockIdx.z;
  const int t = blockIdx.x * kTile + threadIdx.y, s = blockIdx.y * kTile + threadIdx.x;
  const float aa = gram_tile(a + i * tokens * d, tokens, d, t, s);
  const float gg = gram_tile(g + i * tokens * p, tokens, p, t, s);
  __shared__ float tile[kTile * kTile];
  const int lane = threadIdx.y * kTile + threadIdx.x;
  tile[lane] = (t < tokens && s < tokens) ? aa * gg : 0.0f;
  __syncthreads();
  for (int stride = kTile * kTile / 2; stride > 0; stride /= 2) {
    if (lane < stride) tile[lane] += tile[lane + stride];
    __syncthreads();
  }
  if (lane == 0) atomicAdd(out + i, tile[0]);
}

// Clip factors from the per-layer squared norms (layers x batch, row-major):
// norm_i = √Σ_l sq[l, i]; a non-finite norm drops the example (factor 0, counted);
// flat: min(1, C / (norm + 1e-6)); automatic: C / (norm + γ).
__global__ void clip_factors_kernel(const float* layer_squared, int64_t layers, int64_t batch,
                                    float max_norm, int automatic, float gamma, float* norms,
                                    float* factors, unsigned long long* dropped) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= batch) return;
  float total = 0.0f;
  for (int64_t l = 0; l < layers; ++l) total += layer_squared[l * batch + i];
  const float norm = sqrtf(total);
  norms[i] = norm;
  if (!isfinite(norm)) {
    factors[i] = 0.0f;
    atomicAdd(dropped, 1ull);
    return;
  }
  factors[i] = automatic ? max_norm / (norm + gamma) : fminf(1.0f, max_norm / (norm + 1e-6f));
}

unsigned blocks_for(int64_t count, int threads) {
  return static_cast<unsigned>((count + threads - 1) / threads);
}

}  // namespace

int row_squared_norms_f32(const float* rows, int64_t batch, int64_t row_length, float* out,
                          cudaStream_t stream) {
  if (batch <= 0) return 0;
  row_squared_norms_kernel<<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(rows, row_length,
                                                                                  out);
  return static_cast<int>(cudaGetLastError());
}

int weighted_row_sum_f32(const float* rows, const float* factors, int64_t batch, int64_t row_length,
                         float* out, cudaStream_t stream) {
  if (row_length <= 0) return 0;
  weighted_row_sum_kernel<<<blocks_for(row_length, kThreads), kThreads, 0, stream>>>(
      rows, factors, batch, row_length, out);
  return static_cast<int>(cudaGetLastError());
}

int scale_rows_f32(float* rows, const float* factors, int64_t batch, int64_t row_length,
                   cudaStream_t stream) {
  const int64_t total = batch * row_length;
  if (total <= 0) return 0;
  scale_rows_kernel<<<blocks_for(total, kThreads), kThreads, 0, stream>>>(rows, factors, row_length,
                                                                          total);
  return static_cast<int>(cudaGetLastError());
}

int ghost_norms_f32(const float* a, const float* g, int64_t batch, int64_t tokens, int64_t d,
                    int64_t p, float* out, cudaStream_t stream) {
  if (batch <= 0) return 0;
  cudaError_t status = cudaMemsetAsync(out, 0, static_cast<size_t>(batch) * sizeof(float), stream);
  if (status != cudaSuccess || tokens <= 0) return static_cast<int>(status);
  const dim3 threads(kTile, kTile);
  const dim3 grid(blocks_for(tokens, kTile), blocks_for(tokens, kTile),
                  static_cast<unsigned>(batch));
  ghost_norms_kernel<<<grid, threads, 0, stream>>>(a, g, tokens, d, p, out);
  return static_cast<int>(cudaGetLastError());
}

int clip_factors_f32(const float* layer_squared, int64_t layers, int64_t batch, float max_norm,
                     bool automatic, float gamma, float* norms, float* factors,
                     unsigned long long* dropped, cudaStream_t stream) {
  if (batch <= 0) return 0;
  cudaError_t status = cudaMemsetAsync(dropped, 0, sizeof(unsigned long long), stream);
  if (status != cudaSuccess) return static_cast<int>(status);
  clip_factors_kernel<<<blocks_for(batch, kThreads), kThreads, 0, stream>>>(
      layer_squared, layers, batch, max_norm, automatic ? 1 : 0, gamma, norms, factors, dropped);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace dpforge::kernels
