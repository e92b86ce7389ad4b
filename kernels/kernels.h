// SPDX-License-Identifier: Apache-2.0
// Raw-pointer entry points of dpforge's CUDA kernels. No torch headers: this library compiles and
// links against a CPU-only LibTorch; the bridge in src/dp/cuda_bridge.cpp unpacks tensors.
#pragma once
#include <cstdint>

typedef struct CUstream_st* cudaStream_t;

namespace dpforge::kernels {

// Gaussian noise for every tensor (slice) of a DP-SGD step in one launch: for each slice,
// values[i] = (values[i] + noise_std * z_i) * scale, z_i the i-th normal of the Philox stream
// (seed, first_block), i.e. normal (i % 4) of block first_block + i / 4 — the CPU twin
// dpforge::dp::add_noise_and_scale_cpu draws exactly the same z_i. With `secure`, z_i comes from
// philox_secure_normal4 (block first_block + i / 4 of the secure stream).
// Returns 0 on success, else a cudaError_t value.
struct NoiseSlice {
  float* values;
  int64_t count;
  uint64_t first_block;
};
constexpr int kMaxNoiseSlicesPerLaunch = 48;  // the list travels as a kernel argument (< 4 KiB)
int add_noise_and_scale_many_f32(const NoiseSlice* slices, int slice_count, double noise_std,
                                 double scale, uint64_t seed, bool secure, cudaStream_t stream);

// Per-example clipping (kernels/per_sample.cu). All tensors are dense row-major float32 on the
// device; each entry returns 0 or a cudaError_t value.

// out[i] = Σ_j rows[i·row_length + j]²  (materialized per-example gradients → squared norms).
int row_squared_norms_f32(const float* rows, int64_t batch, int64_t row_length, float* out,
                          cudaStream_t stream);

// out[j] = Σ_i factors[i] · rows[i·row_length + j]  (Σᵢ cᵢ ∇Wᵢ of a materialized layer).
int weighted_row_sum_f32(const float* rows, const float* factors, int64_t batch, int64_t row_length,
                         float* out, cudaStream_t stream);

// rows[i, :] *= factors[i], in place  (c ⊙ G feeding the book-keeping GEMM).
int scale_rows_f32(float* rows, const float* factors, int64_t batch, int64_t row_length,
                   cudaStream_t stream);

// out[i] = ⟨AᵢAᵢᵀ, GᵢGᵢᵀ⟩_F for a: B x T x d and g: B x T x p (the ghost norm, fused: no Gram
// matrix is written to memory).
int ghost_norms_f32(const float* a, const float* g, int64_t batch, int64_t tokens, int64_t d,
                    int64_t p, float* out, cudaStream_t stream);

// From layer_squared (layers x batch): norms[i] = √Σ_l, factors[i] = min(1, C/(norm+1e-6)) (flat)
// or C/(norm+γ) (automatic), 0 for a non-finite norm; *dropped = how many were non-finite.
int clip_factors_f32(const float* layer_squared, int64_t layers, int64_t batch, float max_norm,
                     bool automatic, float gamma, float* norms, float* factors,
                     unsigned long long* dropped, cudaStream_t stream);

// Human-readable text for a status returned above.
const char* error_string(int status);

}  // namespace dpforge::kernels
