// SPDX-License-Identifier: Apache-2.0
// Raw-pointer entry points of dpforge's CUDA kernels. No torch headers: this library compiles and
// links against a CPU-only LibTorch; the bridge in src/dp/*_cuda.cpp unpacks tensors.
#pragma once
#include <cstdint>

typedef struct CUstream_st* cudaStream_t;

namespace dpforge::kernels {

// values[i] = (values[i] + noise_std * z_i) * scale, z_i the i-th normal of the Philox stream
// (seed, first_block), i.e. normal (i % 4) of block first_block + i / 4 — the CPU twin
// dpforge::dp::add_noise_and_scale_cpu draws exactly the same z_i. With `secure`, z_i comes from
// philox_secure_normal4 (block first_block + i / 4 of the secure stream).
// Returns 0 on success, else a cudaError_t value.
int add_noise_and_scale_f32(float* values, int64_t count, double noise_std, double scale,
                            uint64_t seed, uint64_t first_block, bool secure, cudaStream_t stream);

// Human-readable text for a status returned above.
const char* error_string(int status);

}  // namespace dpforge::kernels
